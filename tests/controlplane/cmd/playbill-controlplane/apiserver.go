package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// apiOptions are the kube-apiserver settings a caller may change from the defaults below.
type apiOptions struct {
	compactionInterval time.Duration
	watchCache         bool
	extraArgs          []string
}

// startAPIServer configures kube-apiserver from command-line style flags, the
// same way its own command does (minus the process-wide signal handler, which
// this program owns), and runs it until ctx is cancelled. The returned channel
// yields the server's exit error and is then closed.
func startAPIServer(ctx context.Context, certs pki, ports portSet, etcdURL, certDir string, opts apiOptions) (<-chan error, error) {
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(ports.APIServer),
		"--cert-dir=" + certDir,
		"--tls-cert-file=" + certs.servingCert(),
		"--tls-private-key-file=" + certs.servingKey(),
		"--client-ca-file=" + certs.caCert(),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + certs.saPub(),
		"--service-account-signing-key-file=" + certs.saKey(),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// The "kubernetes" Service cannot have a loopback endpoint; there are no
		// pods to reach it anyway.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		// Stop in seconds even while clients hold watches open: drain normal
		// requests, then give the HTTP server 2 s (the default waits up to the
		// 60 s request timeout for watch connections).
		"--shutdown-send-retry-after=true",
	}
	if opts.compactionInterval > 0 {
		args = append(args, "--etcd-compaction-interval="+opts.compactionInterval.String())
	}
	if !opts.watchCache {
		args = append(args, "--watch-cache=false")
	}
	args = append(args, opts.extraArgs...)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	// The API server's loopback clients should not log the warnings it sends itself.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	// Bind now, so that a port conflict is reported here and not from a goroutine.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.APIServer)))
	if err != nil {
		return nil, err
	}
	s.SecureServing.Listener = ln

	completed, err := s.Complete(ctx)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		ln.Close()
		return nil, utilerrors.NewAggregate(errs)
	}
	config, err := app.NewConfig(completed)
	if err != nil {
		ln.Close()
		return nil, err
	}
	completedConfig, err := config.Complete()
	if err != nil {
		ln.Close()
		return nil, err
	}
	server, err := app.CreateServerChain(completedConfig)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("creating the server chain: %w", err)
	}
	prepared, err := server.PrepareRun()
	if err != nil {
		ln.Close()
		return nil, err
	}
	done := make(chan error, 1)
	go func() {
		defer close(done)
		done <- prepared.Run(ctx)
	}()
	return done, nil
}
