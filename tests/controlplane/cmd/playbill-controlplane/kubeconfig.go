package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
)

// writeKubeconfig writes a self-contained kubeconfig (certificates embedded)
// for the client identity id.
func writeKubeconfig(path, server string, certs pki, id string) error {
	ca, err := os.ReadFile(certs.caCert())
	if err != nil {
		return err
	}
	crt, err := os.ReadFile(certs.clientCert(id))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(certs.clientKey(id))
	if err != nil {
		return err
	}
	const name = "playbill"
	user := "playbill-" + id
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = name
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

func restConfigFor(server string, certs pki, id string) (*rest.Config, error) {
	return &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile:   certs.caCert(),
			CertFile: certs.clientCert(id),
			KeyFile:  certs.clientKey(id),
		},
		UserAgent: "playbill-controlplane",
	}, nil
}

// waitReady polls /readyz until it answers ok, the server exits, or timeout.
func waitReady(ctx context.Context, cfg *rest.Config, serverDone <-chan error, timeout time.Duration) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		var status int
		res := client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx)
		res.StatusCode(&status)
		if status == 200 {
			return nil
		}
		if body, err := res.Raw(); err != nil {
			last = err.Error()
		} else {
			last = string(body)
		}
		select {
		case err := <-serverDone:
			return fmt.Errorf("kube-apiserver exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready after %s: %s", timeout, last)
		}
		klog.V(2).InfoS("Waiting for /readyz", "last", last)
	}
}
