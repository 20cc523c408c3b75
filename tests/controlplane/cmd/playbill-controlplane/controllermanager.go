package main

import (
	"context"

	"github.com/spf13/pflag"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// controllers are the kube-controller-manager controllers this control plane
// runs: enough for namespace deletion and ownerReference cascading to finish
// as on a real cluster, and for namespaces to get their default ServiceAccount.
const controllers = "namespace,garbagecollector,serviceaccount"

// startControllerManager runs kube-controller-manager in this process with its
// own kubeconfig (user system:kube-controller-manager), each controller using
// its own ServiceAccount credentials as kubeadm sets it up. No leader election
// and no serving port: there is exactly one instance, on loopback.
func startControllerManager(ctx context.Context, kubeconfig string, certs pki) (<-chan error, error) {
	s, err := options.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, err
	}
	all, disabled, aliases := app.KnownControllers(), app.ControllersDisabledByDefault(), app.ControllerAliases()
	named := s.Flags(all, disabled, aliases)
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + controllers,
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--root-ca-file=" + certs.caCert(),
		"--secure-port=0",
		// The namespace controller issues a list and a delete-collection per
		// resource type; at the default 20 QPS an empty namespace takes ~8 s to go.
		"--kube-api-qps=200",
		"--kube-api-burst=400",
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	s.ParsedFlags = &named
	config, err := s.Config(ctx, all, disabled, aliases)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() {
		defer close(done)
		done <- app.Run(ctx, config.Complete())
	}()
	return done, nil
}
