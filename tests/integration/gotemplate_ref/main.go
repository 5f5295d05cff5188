// A reference for tests/integration/test_gotemplate_go.py: Go's own text/template with
// docker's template functions (cli/templates), reading one JSON request a line
// ({"t": template, "d": data, "mk": missingkey}) and answering {"out": ..., "err": ...}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"text/template"
)

type req struct {
	T    string  `json:"t"`
	Data any     `json:"d"`
	MK   string  `json:"mk"`
	Tab  *string `json:"tab"` // when set: text/tabwriter with docker's settings instead
}

var docker = template.FuncMap{
	"json": func(v any) string {
		buf := &bytes.Buffer{}
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return strings.TrimSpace(buf.String())
	},
	"split": strings.Split,
	"join":  strings.Join,
	"title": strings.Title,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"pad": func(s string, p, q int) string {
		if s == "" {
			return s
		}
		return strings.Repeat(" ", p) + s + strings.Repeat(" ", q)
	},
	"truncate": func(s string, n int) string {
		if len(s) < n {
			return s
		}
		return s[:n]
	},
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	out := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		var r req
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			out.Encode(map[string]string{"err": "bad request: " + err.Error()})
			continue
		}
		res := map[string]string{}
		if r.Tab != nil {
			var b bytes.Buffer
			w := tabwriter.NewWriter(&b, 10, 1, 3, ' ', 0)
			w.Write([]byte(*r.Tab))
			w.Flush()
			res["out"] = b.String()
			out.Encode(res)
			continue
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					res["err"] = fmt.Sprint("panic: ", p)
				}
			}()
			t, err := template.New("").Funcs(docker).Option("missingkey=" + r.MK).Parse(r.T)
			if err != nil {
				res["err"] = err.Error()
				return
			}
			var b bytes.Buffer
			if err := t.Execute(&b, r.Data); err != nil {
				res["err"] = err.Error()
				res["out"] = b.String()
				return
			}
			res["out"] = b.String()
		}()
		out.Encode(res)
	}
}
