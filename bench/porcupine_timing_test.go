// Timing harness for porcupine, used by `npm run bench:checker` (bench/checker.ts).
//
// The bench copies a porcupine checkout to a temporary directory, drops this
// file beside porcupine_test.go (same package, so it can use that file's
// log parsers and models) and runs `go test -run TestTsraftCheckerTiming`.
// It parses every log first, then times CheckEvents alone, the way
// bench/checker.ts times our checker: one warm-up pass, then ROUNDS rounds,
// each set repeated within a round to last about 20 ms, each verdict checked
// against the expected one. One line per set and round (ms: one pass):
//
//	TSRAFT-TIMING {"set":"etcd","round":0,"ms":123.4}
package porcupine

import (
	"encoding/json"
	"fmt"
	"math"
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
	var sets []string
	for _, c := range cases {
		if len(sets) == 0 || sets[len(sets)-1] != c.set {
			sets = append(sets, c.set)
		}
	}
	reps := map[string]int{}
	for round := -1; round < rounds; round++ {
		for _, s := range sets {
			n := reps[s]
			if n == 0 {
				n = 1
			}
			t0 := time.Now()
			for k := 0; k < n; k++ {
				for _, c := range cases {
					if c.set != s {
						continue
					}
					if res := CheckEvents(c.model, c.events); res != c.ok {
						t.Fatalf("%s: expected %v, got %v", c.name, c.ok, res)
					}
				}
			}
			ms := float64(time.Since(t0).Nanoseconds()) / 1e6 / float64(n)
			if round < 0 {
				// warm-up: repeat the set within a round to last about 20 ms
				reps[s] = int(math.Max(1, math.Ceil(20/math.Max(ms, 0.001))))
				continue
			}
			fmt.Printf("TSRAFT-TIMING {\"set\":%q,\"round\":%d,\"ms\":%.4f}\n", s, round, ms)
		}
	}
}
