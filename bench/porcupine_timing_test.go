// Timing harness for porcupine, used by `npm run bench:checker` (bench/checker.ts).
//
// The bench copies a porcupine checkout to a temporary directory, drops this
// file beside porcupine_test.go (same package, so it can use that file's
// log parsers and models) and runs `go test -run TestTsraftCheckerTiming`.
// It parses every log first, then times CheckEvents alone, the way
// bench/checker.ts times our checker: one warm-up pass, then ROUNDS rounds,
// each verdict checked against the expected one. One line per set and round:
//   TSRAFT-TIMING {"set":"etcd","round":0,"ms":123.4}
package porcupine

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"
)

type tsraftExpected struct {
	Etcd map[string]string `json:"etcd"`
	Kv   map[string]string `json:"kv"`
}

type tsraftCase struct {
	set    string
	name   string
	model  Model
	events []Event
	ok     bool
}

func TestTsraftCheckerTiming(t *testing.T) {
	path := os.Getenv("TSRAFT_EXPECTED")
	if path == "" {
		t.Skip("TSRAFT_EXPECTED not set")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var exp tsraftExpected
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	rounds := 5
	if r, err := strconv.Atoi(os.Getenv("TSRAFT_ROUNDS")); err == nil && r > 0 {
		rounds = r
	}
	var cases []tsraftCase
	names := make([]string, 0, len(exp.Etcd))
	for n := range exp.Etcd {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cases = append(cases, tsraftCase{"etcd", n, etcdModel, parseJepsenLog(fmt.Sprintf("test_data/jepsen/%s.log", n)), exp.Etcd[n] == "ok"})
	}
	for _, n := range []string{"c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"} {
		cases = append(cases, tsraftCase{n, n, kvModel, parseKvLog(fmt.Sprintf("test_data/kv/%s.txt", n)), exp.Kv[n] == "ok"})
	}
	for round := -1; round < rounds; round++ {
		perSet := map[string]time.Duration{}
		var order []string
		for _, c := range cases {
			t0 := time.Now()
			res := CheckEvents(c.model, c.events)
			d := time.Since(t0)
			if res != c.ok {
				t.Fatalf("%s: expected %v, got %v", c.name, c.ok, res)
			}
			if _, seen := perSet[c.set]; !seen {
				order = append(order, c.set)
			}
			perSet[c.set] += d
		}
		if round < 0 {
			continue // warm-up
		}
		for _, s := range order {
			fmt.Printf("TSRAFT-TIMING {\"set\":%q,\"round\":%d,\"ms\":%.3f}\n", s, round, float64(perSet[s].Microseconds())/1000)
		}
	}
}
