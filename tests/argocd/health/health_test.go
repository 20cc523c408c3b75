package health

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const group = "catalog.playbill.dev"

var kinds = []string{"API", "Component", "Domain", "Group", "Resource", "System", "User"}

// Cases every kind's health_test.yaml must cover (by testdata file name).
var requiredInputs = []string{
	"testdata/healthy.yaml",
	"testdata/progressing-no-status.yaml",
	"testdata/progressing-no-ready-condition.yaml",
	"testdata/progressing-generation-lagging.yaml",
	"testdata/progressing-condition-generation-lagging.yaml",
	"testdata/degraded-notfound.yaml",
	"testdata/healthy-unknown-fields.yaml",
	"testdata/degraded-unknown-field.yaml",
}

// Kinds whose hierarchies can loop, and so must cover CycleDetected.
var cycleKinds = []string{"Component", "Domain", "Group"}

// Argo CD's health_test.yaml format (util/lua/health_test.go: TestStructure, IndividualTest).
type testStructure struct {
	Tests []individualTest `json:"tests"`
}

type individualTest struct {
	InputPath    string `json:"inputPath"`
	HealthStatus Status `json:"healthStatus"`
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "argocd", "health.lua")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("argocd/health.lua not found above the working directory")
		}
		dir = parent
	}
}

func customizations(t *testing.T) string {
	return filepath.Join(repoRoot(t), "argocd", "resource_customizations")
}

// TestLuaHealthScript mirrors Argo CD's TestLuaHealthScript: every health.lua under
// resource_customizations against every case of its health_test.yaml. Argo CD runs its tests
// with the open libraries; argocd-cm customizations run without them by default, so both.
func TestLuaHealthScript(t *testing.T) {
	root := customizations(t)
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() != "health.lua" {
			return nil
		}
		found++
		dir := filepath.Dir(path)
		script, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var tests testStructure
		if err := yaml.UnmarshalStrict(b, &tests); err != nil {
			t.Fatalf("%s: %v", filepath.Join(dir, "health_test.yaml"), err)
		}
		rel, _ := filepath.Rel(root, dir)
		if len(tests.Tests) == 0 {
			t.Errorf("%s: no tests", rel)
		}
		for _, tc := range tests.Tests {
			for _, openLibs := range []bool{true, false} {
				name := filepath.Join(rel, tc.InputPath)
				if !openLibs {
					name += "/argocd-cm"
				}
				t.Run(name, func(t *testing.T) {
					obj, err := FromYAMLFile(filepath.Join(dir, tc.InputPath))
					if err != nil {
						t.Fatal(err)
					}
					got, err := Evaluate(obj, string(script), openLibs)
					if err != nil {
						t.Fatal(err)
					}
					if *got != tc.HealthStatus {
						t.Errorf("got %+v, want %+v", *got, tc.HealthStatus)
					}
					// The same object as the controller holds it (int64 numbers) gives the same verdict.
					js, _ := json.Marshal(obj)
					live, err := FromJSON(js)
					if err != nil {
						t.Fatal(err)
					}
					got2, err := Evaluate(live, string(script), openLibs)
					if err != nil {
						t.Fatal(err)
					}
					if *got2 != *got {
						t.Errorf("int64-typed object: got %+v, float64-typed: %+v", *got2, *got)
					}
				})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found != len(kinds) {
		t.Errorf("found %d health.lua files, want %d", found, len(kinds))
	}
}

// TestEveryKindCoversTheRequiredCases checks the layout (one directory per kind, named as Argo CD
// names built-in checks) and that each kind's tests cover the cases that matter.
func TestEveryKindCoversTheRequiredCases(t *testing.T) {
	root := filepath.Join(customizations(t), group)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		dirs = append(dirs, e.Name())
	}
	if !reflect.DeepEqual(dirs, kinds) {
		t.Fatalf("kind directories %v, want %v", dirs, kinds)
	}
	for _, kind := range kinds {
		b, err := os.ReadFile(filepath.Join(root, kind, "health_test.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var tests testStructure
		if err := yaml.Unmarshal(b, &tests); err != nil {
			t.Fatal(err)
		}
		inputs := map[string]Status{}
		for _, tc := range tests.Tests {
			inputs[tc.InputPath] = tc.HealthStatus
		}
		want := slices.Clone(requiredInputs)
		if slices.Contains(cycleKinds, kind) {
			want = append(want, "testdata/degraded-cycle.yaml")
		}
		for _, in := range want {
			st, ok := inputs[in]
			if !ok {
				t.Errorf("%s: no test for %s", kind, in)
				continue
			}
			prefix := strings.SplitN(strings.TrimPrefix(in, "testdata/"), "-", 2)[0]
			if strings.ToLower(st.Status) != strings.TrimSuffix(prefix, ".yaml") {
				t.Errorf("%s: %s expects %s", kind, in, st.Status)
			}
		}
		if slices.Contains(cycleKinds, kind) && !strings.HasPrefix(inputs["testdata/degraded-cycle.yaml"].Message, "CycleDetected: ") {
			t.Errorf("%s: the cycle case must report CycleDetected", kind)
		}
		if !strings.HasPrefix(inputs["testdata/degraded-notfound.yaml"].Message, "UnresolvedReferences: ") {
			t.Errorf("%s: the NotFound case must report UnresolvedReferences", kind)
		}
	}
}

// TestCopiesMatchSource fails when a per-kind health.lua drifts from argocd/health.lua.
func TestCopiesMatchSource(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range kinds {
		p := filepath.Join(customizations(t), group, kind, "health.lua")
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if !bytes.Equal(got, src) {
			t.Errorf("%s differs from argocd/health.lua: run argocd/generate.sh", p)
		}
	}
}

// TestGeneratedFilesUpToDate regenerates everything into a temporary directory and compares it
// with what is committed (health.lua copies, health_test.yaml, testdata, argocd-cm.yaml).
func TestGeneratedFilesUpToDate(t *testing.T) {
	root := repoRoot(t)
	tmp := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(root, "argocd", "generate.sh"), tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	want := readTree(t, tmp)
	have := readTree(t, filepath.Join(root, "argocd"))
	for path, content := range want {
		got, ok := have[path]
		if !ok {
			t.Errorf("argocd/%s is missing: run argocd/generate.sh", path)
		} else if got != content {
			t.Errorf("argocd/%s is stale: run argocd/generate.sh", path)
		}
	}
	for path := range have {
		if strings.HasPrefix(path, "resource_customizations/") {
			if _, ok := want[path]; !ok {
				t.Errorf("argocd/%s is not generated by argocd/generate.sh: remove it or add it to the script", path)
			}
		}
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, sub := range []string{"resource_customizations", "argocd-cm.yaml"} {
		base := filepath.Join(dir, sub)
		if _, err := os.Stat(base); err != nil {
			continue
		}
		err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			files[filepath.ToSlash(rel)] = string(b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// TestArgoCMCarriesTheScriptForEveryKind parses the generated argocd-cm.yaml and checks each
// health key holds exactly argocd/health.lua.
func TestArgoCMCarriesTheScriptForEveryKind(t *testing.T) {
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "argocd", "argocd-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	if len(cm.Data) != len(kinds) {
		t.Errorf("argocd-cm.yaml has %d keys, want %d", len(cm.Data), len(kinds))
	}
	for _, kind := range kinds {
		key := "resource.customizations.health." + group + "_" + kind
		if cm.Data[key] != string(src) {
			t.Errorf("argocd-cm.yaml: %s does not hold argocd/health.lua", key)
		}
	}
}

// A few properties of the Argo CD runtime that the script relies on, checked here so a change
// in how this harness mirrors Argo CD shows up.
func TestHarnessMirrorsArgoCD(t *testing.T) {
	obj := map[string]any{"metadata": map[string]any{"generation": int64(7)}}
	cases := []struct {
		script   string
		openLibs bool
		want     Status
		wantErr  bool
	}{
		{`return {status = "Healthy", message = "gen " .. obj.metadata.generation}`, false, Status{"Healthy", "gen 7"}, false},
		{`return {}`, false, Status{}, false},
		{`return nil`, false, Status{}, false},
		{`return {status = "Fine"}`, false, Status{"Unknown", invalidHealthStatus}, false},
		{`return "Healthy"`, false, Status{}, true},
		// No string library for argocd-cm scripts unless useOpenLibs is set.
		{`return {status = "Healthy", message = string.upper("x")}`, false, Status{}, true},
		{`return {status = "Healthy", message = string.upper("x")}`, true, Status{"Healthy", "X"}, false},
		{`local os = require("os"); return {status = "Healthy", message = type(os.time())}`, false, Status{"Healthy", "number"}, false},
		{`while true do end`, false, Status{}, true},
	}
	for _, c := range cases {
		got, err := Evaluate(obj, c.script, c.openLibs)
		if c.wantErr {
			if err == nil {
				t.Errorf("%q: want an error, got %+v", c.script, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.script, err)
		} else if *got != c.want {
			t.Errorf("%q: got %+v, want %+v", c.script, *got, c.want)
		}
	}
}
