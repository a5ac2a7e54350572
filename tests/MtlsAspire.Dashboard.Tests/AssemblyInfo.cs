// Each collection starts the whole app (DCP, the dashboard, every service): one at a time on a small machine.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
