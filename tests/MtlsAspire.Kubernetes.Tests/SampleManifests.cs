namespace MtlsAspire.Kubernetes.Tests;

/// <summary>
/// A small valid shop in the shape the publisher writes: a namespace, one service's workload and network policy, and
/// the cert-manager objects that give it its SPIFFE certificate. The harness tests break copies of it.
/// </summary>
public static class SampleManifests
{
    public const string Namespace = """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
        """;

    public const string Catalog = """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: catalog-config
          namespace: shop
        data:
          MTLS_TRUST_DOMAIN: shop.internal
          MTLS_ENABLED: "yes"
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: catalog
          namespace: shop
          labels:
            app.kubernetes.io/name: catalog
        spec:
          replicas: 2
          selector:
            matchLabels:
              app.kubernetes.io/name: catalog
          template:
            metadata:
              labels:
                app.kubernetes.io/name: catalog
            spec:
              containers:
                - name: catalog
                  image: mtlsaspire/catalog:1.0
                  ports:
                    - name: https
                      containerPort: 8443
                  envFrom:
                    - configMapRef:
                        name: catalog-config
                  volumeMounts:
                    - name: mtls
                      mountPath: /var/run/mtls
                      readOnly: true
              volumes:
                - name: mtls
                  secret:
                    secretName: catalog-tls
                    defaultMode: 0440
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: catalog
          namespace: shop
        spec:
          selector:
            app.kubernetes.io/name: catalog
          ports:
            - name: https
              port: 443
              targetPort: https
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata:
          name: catalog
          namespace: shop
        spec:
          podSelector:
            matchLabels:
              app.kubernetes.io/name: catalog
          policyTypes: [Ingress]
          ingress:
            - from:
                - podSelector:
                    matchLabels:
                      app.kubernetes.io/name: orders
              ports:
                - port: 8443
                  protocol: TCP
        """;

    public const string Pki = """
        apiVersion: cert-manager.io/v1
        kind: Issuer
        metadata:
          name: mtls-ca
          namespace: shop
        spec:
          ca:
            secretName: mtls-ca
        ---
        apiVersion: cert-manager.io/v1
        kind: Certificate
        metadata:
          name: catalog-tls
          namespace: shop
        spec:
          secretName: catalog-tls
          duration: 24h
          renewBefore: 8h
          privateKey:
            algorithm: ECDSA
            size: 256
            encoding: PKCS8
            rotationPolicy: Always
          usages: [digital signature, server auth, client auth]
          dnsNames: [catalog.shop.svc, catalog.shop.svc.cluster.local]
          uris: [spiffe://shop.internal/catalog]
          issuerRef:
            name: mtls-ca
            kind: Issuer
            group: cert-manager.io
        """;

    /// <summary>All of it in one multi-document file, in this order (documents 1 to 7).</summary>
    public const string Shop = $"{Namespace}\n---\n{Catalog}\n---\n{Pki}\n";

    /// <summary>What validate.mjs says of <see cref="Shop"/>, object by object.</summary>
    public static readonly string[] ShopObjects =
    [
        "ok Namespace shop",
        "ok ConfigMap shop/catalog-config",
        "ok Deployment shop/catalog",
        "ok Service shop/catalog",
        "ok NetworkPolicy shop/catalog",
        "ok Issuer shop/mtls-ca",
        "ok Certificate shop/catalog-tls",
    ];
}
