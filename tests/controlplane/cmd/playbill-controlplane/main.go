// Command playbill-controlplane runs a small but real Kubernetes control plane
// in one process, on loopback only, for Playbill's development, tests and demo:
//
//   - etcd, embedded (go.etcd.io/etcd/server/v3/embed);
//   - kube-apiserver (k8s.io/kubernetes/cmd/kube-apiserver/app) with RBAC
//     authorization, client-certificate authentication and CRDs;
//   - the kube-controller-manager's namespace, garbage-collector and
//     service-account controllers, so that deleting a namespace finishes.
//
// Everything it needs (CA, serving and client certificates, service-account
// keys, ports, etcd data) is created in --state-dir at first start and reused
// afterwards. It writes an admin kubeconfig (user playbill-admin, group
// system:masters) to --kubeconfig once the API server is ready, and stops
// cleanly on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// serviceCIDR is the (unused, but required) service IP range; serviceIP is the
// first address in it, which the API server reserves for the "kubernetes" service.
const (
	serviceCIDR = "10.0.0.0/24"
	serviceIP   = "10.0.0.1"
)

func main() {
	var (
		stateDir    string
		kubeconfig  string
		apiPort     int
		shutdownMax time.Duration
		api         apiOptions
	)
	fs := pflag.NewFlagSet("playbill-controlplane", pflag.ExitOnError)
	fs.StringVar(&stateDir, "state-dir", "", "directory for certificates, keys, ports and etcd data (required)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "where to write the admin kubeconfig (default <state-dir>/admin.kubeconfig)")
	fs.IntVar(&apiPort, "apiserver-port", 0, "API server port on 127.0.0.1 at first start (0: a free port; reused afterwards)")
	fs.DurationVar(&shutdownMax, "shutdown-timeout", 20*time.Second, "how long a clean stop may take before the process exits anyway")
	// Fault injection for the chaos tests (tests/e2e_chaos.rs): with the watch cache off and a
	// short compaction interval, a watch resumed from a resourceVersion older than a few seconds
	// gets 410 Gone, which is otherwise rare and hard to cause on purpose.
	fs.DurationVar(&api.compactionInterval, "etcd-compaction-interval", 0, "how often kube-apiserver compacts etcd (0: its default, 5m)")
	fs.BoolVar(&api.watchCache, "watch-cache", true, "serve watches and lists from kube-apiserver's watch cache (false: straight from etcd)")
	fs.StringArrayVar(&api.extraArgs, "apiserver-arg", nil, "an extra kube-apiserver flag, e.g. --apiserver-arg=--min-request-timeout=5 (repeatable; applied last)")
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	fs.AddGoFlag(klogFlags.Lookup("v"))
	fs.AddGoFlag(klogFlags.Lookup("vmodule"))
	_ = fs.Parse(os.Args[1:])
	if stateDir == "" {
		fmt.Fprintln(os.Stderr, "playbill-controlplane: --state-dir is required")
		os.Exit(2)
	}
	if kubeconfig == "" {
		kubeconfig = filepath.Join(stateDir, "admin.kubeconfig")
	}
	if err := run(stateDir, kubeconfig, apiPort, shutdownMax, api); err != nil {
		klog.ErrorS(err, "control plane failed")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

func run(stateDir, kubeconfig string, apiPort int, shutdownMax time.Duration, api apiOptions) error {
	start := time.Now()
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}

	// The first SIGTERM/SIGINT starts an orderly stop; a second one exits at once.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		klog.InfoS("Stopping the control plane", "signal", s.String())
		stop()
		s = <-sigs
		klog.InfoS("Second signal, exiting now", "signal", s.String())
		klog.Flush()
		os.Exit(1)
	}()

	certs := pki{dir: filepath.Join(stateDir, "pki")}
	if err := certs.ensure(); err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	ports, err := loadOrAllocatePorts(filepath.Join(stateDir, "ports.json"), apiPort)
	if err != nil {
		return err
	}

	// etcd
	etcd, err := startEtcd(ctx, filepath.Join(stateDir, "etcd"), ports)
	if err != nil {
		if ctx.Err() != nil {
			klog.InfoS("Stopped during start-up")
			return nil
		}
		return fmt.Errorf("starting etcd: %w", err)
	}
	defer etcd.stop()
	klog.InfoS("etcd is ready", "url", etcd.clientURL, "elapsed", time.Since(start).Round(time.Millisecond))

	// Kubeconfigs for the admin and for the controller manager.
	server := fmt.Sprintf("https://127.0.0.1:%d", ports.APIServer)
	kcmKubeconfig := filepath.Join(stateDir, "controller-manager.kubeconfig")
	if err := writeKubeconfig(kcmKubeconfig, server, certs, "controller-manager"); err != nil {
		return err
	}

	// kube-apiserver
	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	apiDone, err := startAPIServer(apiCtx, certs, ports, etcd.clientURL, filepath.Join(stateDir, "apiserver"), api)
	if err != nil {
		return fmt.Errorf("starting kube-apiserver: %w", err)
	}
	adminConfig, err := restConfigFor(server, certs, "admin")
	if err != nil {
		return err
	}
	if err := waitReady(ctx, adminConfig, apiDone, 2*time.Minute); err != nil {
		stopAPI()
		waitFor(apiDone, shutdownMax, "kube-apiserver")
		if ctx.Err() != nil {
			klog.InfoS("Stopped during start-up")
			return nil
		}
		return err
	}
	klog.InfoS("kube-apiserver is ready", "url", server, "elapsed", time.Since(start).Round(time.Millisecond))

	// kube-controller-manager (namespace, garbagecollector, serviceaccount)
	kcmCtx, stopKCM := context.WithCancel(context.Background())
	defer stopKCM()
	kcmDone, err := startControllerManager(kcmCtx, kcmKubeconfig, certs)
	if err != nil {
		stopAPI()
		waitFor(apiDone, shutdownMax, "kube-apiserver")
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}

	// Only now publish the admin kubeconfig: its presence plus a good /readyz
	// is what callers wait for.
	if err := writeKubeconfig(kubeconfig, server, certs, "admin"); err != nil {
		return err
	}
	klog.InfoS("Control plane is up", "kubeconfig", kubeconfig, "elapsed", time.Since(start).Round(time.Millisecond))

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-apiDone:
		runErr = fmt.Errorf("kube-apiserver stopped unexpectedly: %v", err)
	case err := <-kcmDone:
		runErr = fmt.Errorf("kube-controller-manager stopped unexpectedly: %v", err)
	case err := <-etcd.errors():
		runErr = fmt.Errorf("etcd failed: %v", err)
	}

	// Orderly stop: controllers, then the API server, then etcd (deferred),
	// all within shutdownMax.
	deadline := time.Now().Add(shutdownMax)
	stopKCM()
	waitFor(kcmDone, time.Until(deadline), "kube-controller-manager")
	stopAPI()
	waitFor(apiDone, time.Until(deadline), "kube-apiserver")
	if runErr == nil {
		klog.InfoS("Control plane stopped")
	}
	return runErr
}

// waitFor waits until done yields (or is closed), or gives up after timeout.
func waitFor(done <-chan error, timeout time.Duration, what string) {
	select {
	case err, ok := <-done:
		if ok && err != nil && !errors.Is(err, context.Canceled) {
			klog.ErrorS(err, "Stopped with an error", "component", what)
		} else {
			klog.InfoS("Stopped", "component", what)
		}
	case <-time.After(timeout):
		klog.InfoS("Did not stop in time, going on", "component", what, "timeout", timeout)
	}
}
