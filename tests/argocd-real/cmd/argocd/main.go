// Command argocd is Argo CD v3.2.11 as one multi-call binary, modelled on argo-cd's cmd/main.go:
// the name it is called by (argv[0], or ARGOCD_BINARY_NAME) selects the component.
//
//	argocd-application-controller   the application controller
//	argocd-repo-server              the repository server
//	argocd-git-ask-pass             the git credential helper the repo-server calls
//	argocd-redis --addr HOST:PORT   an in-memory Redis (miniredis, which argo-cd itself depends on)
//	argocd                          the CLI (`argocd admin ...`)
//
// The end-to-end test tests/e2e_argocd_real.rs runs these as local processes against the local
// control plane; scripts/argocd.sh builds the binary and the symlinks.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	gitaskpass "github.com/argoproj/argo-cd/v3/cmd/argocd-git-ask-pass/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	cli "github.com/argoproj/argo-cd/v3/cmd/argocd/commands"
	"github.com/argoproj/argo-cd/v3/util/log"
)

const binaryNameEnv = "ARGOCD_BINARY_NAME"

func init() {
	// As upstream: klog uses the configured log level and format.
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
}

// newRedisCommand serves an in-memory Redis on --addr until SIGINT or SIGTERM. It prints
// "listening on HOST:PORT" once it accepts connections (with --addr 127.0.0.1:0 the port is
// chosen by the kernel). miniredis keeps its own clock for key expiry, which only moves when told
// to, so a ticker moves it with the wall clock: Argo CD's cache entries expire as on a real Redis.
func newRedisCommand() *cobra.Command {
	var addr string
	command := &cobra.Command{
		Use:   "argocd-redis",
		Short: "Serve an in-memory Redis (miniredis) for Argo CD's cache",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			server := miniredis.NewMiniRedis()
			if err := server.StartAddr(addr); err != nil {
				return fmt.Errorf("redis: listen on %s: %w", addr, err)
			}
			defer server.Close()
			fmt.Printf("listening on %s\n", server.Addr())
			stop := make(chan os.Signal, 1)
			signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			last := time.Now()
			for {
				select {
				case <-stop:
					return nil
				case now := <-tick.C:
					server.FastForward(now.Sub(last))
					last = now
				}
			}
		},
	}
	command.Flags().StringVar(&addr, "addr", "127.0.0.1:6379", "address to listen on (port 0: any free port)")
	return command
}

func main() {
	var command *cobra.Command

	binaryName := filepath.Base(os.Args[0])
	if val := os.Getenv(binaryNameEnv); val != "" {
		binaryName = val
	}

	isArgocdCLI := false
	switch binaryName {
	case "argocd-application-controller":
		command = appcontroller.NewCommand()
	case "argocd-repo-server":
		command = reposerver.NewCommand()
	case "argocd-git-ask-pass":
		command = gitaskpass.NewCommand()
		isArgocdCLI = true
	case "argocd-redis":
		command = newRedisCommand()
	default:
		command = cli.NewCommand()
		isArgocdCLI = true
	}

	if isArgocdCLI {
		// As upstream: the CLI prints its own errors (and runs plugins).
		command.SilenceErrors = true
		command.SilenceUsage = true
	}

	err := command.Execute()
	if err == nil {
		return
	}
	if !isArgocdCLI {
		os.Exit(1)
	}
	pluginHandler := cli.NewDefaultPluginHandler([]string{"argocd"})
	if pluginErr := pluginHandler.HandleCommandExecutionError(err, isArgocdCLI, os.Args); pluginErr != nil {
		var exitErr *exec.ExitError
		if errors.As(pluginErr, &exitErr) {
			os.Exit(exitErr.ExitCode())
		}
		os.Exit(1)
	}
}
