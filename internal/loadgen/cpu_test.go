package loadgen

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	raw := []byte("cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 50 2 25 400 20 1 1 0 3 0\n")
	busy, total, err := parseStat(raw)
	if err != nil {
		t.Fatal(err)
	}
	// user, nice, system, irq, softirq, steal are busy; idle and iowait are not.
	if wantBusy, wantTotal := 160*clockTick, 1000*clockTick; busy != wantBusy || total != wantTotal {
		t.Errorf("busy %s of %s, want %s of %s", busy, total, wantBusy, wantTotal)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2 3\n", "cpu 1 2 3 x 5 6 7 8\n"} {
		if _, _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 30.
	raw := []byte("4242 (odd (name) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 30 0 0 20 0 9 0 123 456 789\n")
	got, err := parseProcStat(raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := 280 * clockTick; got != want {
		t.Errorf("parseProcStat = %s, want %s", got, want)
	}
	for _, bad := range []string{"", "4242 no name S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 x 30 0"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q): no error", bad)
		}
	}
}

// TestSampleCPU burns processor time and finds it in this process's
// sample and the machine's.
func TestSampleCPU(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc here")
	}
	self := os.Getpid()
	before, err := SampleCPU(self)
	if err != nil {
		t.Fatal(err)
	}
	after := before
	for giveUp := time.Now().Add(time.Minute); after.Procs[self] == before.Procs[self]; {
		if time.Now().After(giveUp) {
			t.Fatal("no processor time accounted to this process after a minute of work")
		}
		spin := 0
		for i := range 5_000_000 {
			spin += i % 7
		}
		_ = spin
		if after, err = SampleCPU(self); err != nil {
			t.Fatal(err)
		}
	}
	used := after.Sub(before)
	// The machine's and a process's times are sampled apart: allow each
	// CPU a tick or two between them.
	slack := 2 * clockTick * time.Duration(runtime.NumCPU())
	if used.Procs[self] <= 0 || used.Busy+slack < used.Procs[self] || used.Busy > used.Total {
		t.Errorf("over the work: this process %s, the machine busy %s of %s", used.Procs[self], used.Busy, used.Total)
	}
	if _, err := SampleCPU(-1); err == nil {
		t.Error("SampleCPU of no such process: no error")
	}
}
