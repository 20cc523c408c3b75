// Command health evaluates the Playbill Argo CD health checks against objects read from stdin,
// the way Argo CD evaluates an argocd-cm health customization.
//
//	kubectl get component checkout -o json | health -customizations argocd/resource_customizations
//	kubectl get catalog -A -o json         | health -customizations argocd/resource_customizations
//
// For one object it prints {"status": ..., "message": ...}. For a List it prints a JSON array with
// one {"apiVersion", "kind", "namespace", "name", "status", "message"} per item. The script for an
// object is <customizations>/<group>/<Kind>/health.lua (-script overrides it); an object without
// one gets an empty verdict, as in Argo CD.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"playbill.dev/tests/argocd/health"
)

type verdict struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	health.Status
}

func main() {
	dir := flag.String("customizations", "argocd/resource_customizations", "directory laid out as Argo CD's resource_customizations")
	scriptPath := flag.String("script", "", "health.lua to use for every object instead of the per-kind one")
	openLibs := flag.Bool("open-libs", false, "load every Lua library (built-in scripts, or useOpenLibs in argocd-cm); default: argocd-cm's restricted set")
	flag.Parse()

	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	obj, err := health.FromJSON(in)
	if err != nil {
		fail(fmt.Errorf("stdin: %w", err))
	}
	eval := func(o map[string]any) (*health.Status, error) {
		path := *scriptPath
		if path == "" {
			apiVersion, _ := o["apiVersion"].(string)
			kind, _ := o["kind"].(string)
			group := ""
			if i := strings.Index(apiVersion, "/"); i >= 0 {
				group = apiVersion[:i]
			}
			path = filepath.Join(*dir, group, kind, "health.lua")
		}
		script, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) && *scriptPath == "" {
			return &health.Status{}, nil
		} else if err != nil {
			return nil, err
		}
		return health.Evaluate(o, string(script), *openLibs)
	}

	out := json.NewEncoder(os.Stdout)
	items, isList := obj["items"].([]any)
	if !isList {
		st, err := eval(obj)
		if err != nil {
			fail(err)
		}
		_ = out.Encode(st)
		return
	}
	verdicts := []verdict{}
	for _, it := range items {
		o, ok := it.(map[string]any)
		if !ok {
			fail(errors.New("a List item is not an object"))
		}
		st, err := eval(o)
		if err != nil {
			fail(fmt.Errorf("%v/%v: %w", o["kind"], meta(o, "name"), err))
		}
		verdicts = append(verdicts, verdict{
			APIVersion: str(o["apiVersion"]), Kind: str(o["kind"]),
			Namespace: meta(o, "namespace"), Name: meta(o, "name"), Status: *st,
		})
	}
	_ = out.Encode(verdicts)
}

func str(v any) string { s, _ := v.(string); return s }

func meta(o map[string]any, field string) string {
	m, _ := o["metadata"].(map[string]any)
	return str(m[field])
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "health:", err)
	os.Exit(1)
}
