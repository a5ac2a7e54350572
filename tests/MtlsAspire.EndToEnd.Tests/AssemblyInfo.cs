// Each collection starts a whole app (DCP and eight processes): two at a time is what two cores carry.
[assembly: CollectionBehavior(MaxParallelThreads = 2)]
