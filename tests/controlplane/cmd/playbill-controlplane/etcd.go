package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/klog/v2"
)

// portSet is persisted in the state directory so that a restart over the same
// state (after a crash, say) uses the same addresses as the etcd member data
// and kubeconfigs already written.
type portSet struct {
	APIServer  int `json:"apiserver"`
	EtcdClient int `json:"etcdClient"`
	EtcdPeer   int `json:"etcdPeer"`
}

func loadOrAllocatePorts(path string, apiPort int) (portSet, error) {
	var p portSet
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &p); err != nil {
			return p, fmt.Errorf("reading %s: %w", path, err)
		}
		for _, port := range []int{p.APIServer, p.EtcdClient, p.EtcdPeer} {
			if !portFree(port) {
				return p, fmt.Errorf("port %d (from %s) is in use: is another control plane running over this state? Stop it, or remove the state directory", port, path)
			}
		}
		return p, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return p, err
	}
	if apiPort != 0 && !portFree(apiPort) {
		return p, fmt.Errorf("--apiserver-port %d is in use", apiPort)
	}
	// Hold all listeners open at once so that the ports are distinct.
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, dst := range []*int{&p.APIServer, &p.EtcdClient, &p.EtcdPeer} {
		if dst == &p.APIServer && apiPort != 0 {
			p.APIServer = apiPort
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return p, err
		}
		listeners = append(listeners, l)
		*dst = l.Addr().(*net.TCPAddr).Port
	}
	data, _ := json.MarshalIndent(p, "", "  ")
	return p, writeFileAtomic(path, append(data, '\n'), 0o644)
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

type etcdServer struct {
	e         *embed.Etcd
	clientURL string
}

func startEtcd(ctx context.Context, dir string, ports portSet) (*etcdServer, error) {
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports.EtcdClient)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports.EtcdPeer)}

	cfg := embed.NewConfig()
	cfg.Name = "playbill"
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.InitialClusterToken = "playbill"
	// A throw-away development cluster: trade durability for speed.
	cfg.UnsafeNoFsync = true
	// Room for the benchmark's largest catalogs (two copies of 50 000 entities and their
	// history between compactions) above etcd's 2 GiB default.
	cfg.QuotaBackendBytes = 8 << 30
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{"stderr"}
	// What kube-apiserver expects from its etcd (as kubeadm configures it).
	cfg.WatchProgressNotifyInterval = 5 * time.Second
	cfg.SnapshotCount = 10000
	// NewConfig leaves this at 0 (only the etcd command's flag has a default),
	// which would log every single request as slow.
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(time.Minute):
		e.Server.Stop()
		e.Close()
		return nil, errors.New("etcd did not become ready within a minute")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &etcdServer{e: e, clientURL: clientURL.String()}, nil
}

func (s *etcdServer) errors() <-chan error { return s.e.Err() }

func (s *etcdServer) stop() {
	s.e.Close()
	klog.InfoS("Stopped", "component", "etcd")
}
