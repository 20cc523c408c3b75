// Package health runs Argo CD resource health checks written in Lua the way Argo CD does.
//
// It mirrors argo-cd's util/lua package (lua.go: VM.runLuaWithResourceActionParameters,
// VM.ExecuteHealthLua, decodeValue; oslib_safe.go) with the same Lua VM
// (github.com/yuin/gopher-lua, the version Argo CD's go.mod pins) and the same JSON encoder for the
// script's result (layeh.com/gopher-json), so a verdict here is the verdict Argo CD shows:
//
//   - a fresh LState per evaluation; with OpenLibs false (what argocd-cm customizations get unless
//     resource.customizations.useOpenLibs.<group>_<kind> is "true") only the package, base and table
//     libraries plus Argo CD's "safe" os subset (time, date) are loaded: no string, math, io or full os;
//     with OpenLibs true (built-in scripts, and Argo CD's own health tests) every library is loaded;
//   - a one second execution deadline;
//   - globals `actionParams` (an empty table for health checks) and `obj` (the object, converted
//     value by value from its unstructured map);
//   - the script's last return value: a table is JSON-encoded and decoded into {status, message};
//     an empty table yields an empty status, an unknown status code becomes Unknown with
//     "Lua returned an invalid health status"; nil yields an empty status; anything else is an error.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

// Status is Argo CD's health.HealthStatus (gitops-engine pkg/health), field for field.
type Status struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// The health status codes Argo CD accepts from a script (gitops-engine pkg/health).
var validCodes = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true,
	"Healthy": true, "Degraded": true, "Missing": true,
}

const invalidHealthStatus = "Lua returned an invalid health status"

// Timeout is the execution deadline Argo CD sets on every script run.
const Timeout = 1 * time.Second

// safeOsFuncs is Argo CD's "safe" subset of the os library: time and date only. Argo CD's
// oslib_safe.go carries copies of gopher-lua's own os.time and os.date; taking them from
// gopher-lua here gives the same behaviour without copying code.
var safeOsFuncs = func() map[string]lua.LGFunction {
	l := lua.NewState()
	defer l.Close()
	os := l.GetGlobal(lua.OsLibName)
	funcs := map[string]lua.LGFunction{}
	for _, name := range []string{"time", "date"} {
		funcs[name] = l.GetField(os, name).(*lua.LFunction).GFunction
	}
	return funcs
}()

// openSafeOs mirrors Argo CD's OpenSafeOs, which registers the safe functions under the module
// name lua.TabLibName (so they land in the `table` module, not in a global `os`); scripts reach
// them through `require("os")`, which the preloaded safeOsLoader serves.
func openSafeOs(l *lua.LState) int {
	mod := l.RegisterModule(lua.TabLibName, safeOsFuncs)
	l.Push(mod)
	return 1
}

func safeOsLoader(l *lua.LState) int {
	mod := l.SetFuncs(l.NewTable(), safeOsFuncs)
	l.Push(mod)
	return 1
}

// decodeValue converts an unstructured value to Lua exactly as Argo CD's decodeValue does
// (json.Number becomes a string there too; unstructured objects read from the API server carry
// int64, objects read from YAML test files carry float64).
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// Evaluate runs a health script against obj (an unstructured object) and returns the verdict.
func Evaluate(obj map[string]any, script string, openLibs bool) (*Status, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	for _, pair := range []struct {
		n string
		f lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(pair.f), NRet: 0, Protect: true}, lua.LString(pair.n)); err != nil {
			return nil, err
		}
	}
	l.PreloadModule(lua.OsLibName, safeOsLoader)

	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	l.SetContext(ctx)

	l.SetGlobal("actionParams", l.CreateTable(0, 0))
	l.SetGlobal("obj", decodeValue(l, obj))

	fn, err := l.LoadString(script)
	if err == nil {
		l.Push(fn)
		err = l.PCall(0, lua.MultRet, nil)
	}
	if err != nil {
		var apiErr *lua.ApiError
		if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
			apiErr.StackTrace = ""
			err = apiErr
		}
		return nil, err
	}

	ret := l.Get(-1)
	switch ret.Type() {
	case lua.LTTable:
		b, err := luajson.Encode(ret)
		if err != nil {
			return nil, err
		}
		st := &Status{}
		if err := json.Unmarshal(b, st); err != nil {
			// An empty Lua table encodes as [] (Argo CD accepts it as an empty status).
			typeErr := &json.UnmarshalTypeError{Value: "array", Type: reflect.TypeFor[*Status]()}
			if errors.As(err, &typeErr) {
				return &Status{}, nil
			}
			return nil, err
		}
		if !validCodes[st.Status] {
			return &Status{Status: "Unknown", Message: invalidHealthStatus}, nil
		}
		return st, nil
	case lua.LTNil:
		return &Status{}, nil
	}
	return nil, fmt.Errorf("expect table output from Lua script, not %s", ret.Type().String())
}
