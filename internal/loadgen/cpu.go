package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// CPUSample is processor time, as Linux accounts it in /proc: used so far
// when SampleCPU takes it, or over a span when Sub makes it.
type CPUSample struct {
	Busy  time.Duration         // all CPUs, not idle
	Total time.Duration         // all CPUs, idle or not
	Procs map[int]time.Duration // user and system time, by process id
}

// clockTick is the unit of /proc's times: USER_HZ, 100 on every
// architecture Go runs Linux on.
const clockTick = 10 * time.Millisecond

// SampleCPU reads the machine's processor time and that of the processes
// pids. It fails where there is no /proc.
func SampleCPU(pids ...int) (CPUSample, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUSample{}, err
	}
	s := CPUSample{Procs: make(map[int]time.Duration, len(pids))}
	if s.Busy, s.Total, err = parseStat(raw); err != nil {
		return CPUSample{}, err
	}
	for _, pid := range pids {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return CPUSample{}, err
		}
		if s.Procs[pid], err = parseProcStat(raw); err != nil {
			return CPUSample{}, fmt.Errorf("process %d: %w", pid, err)
		}
	}
	return s, nil
}

// Sub is the time used between before and s.
func (s CPUSample) Sub(before CPUSample) CPUSample {
	d := CPUSample{Busy: s.Busy - before.Busy, Total: s.Total - before.Total, Procs: make(map[int]time.Duration, len(s.Procs))}
	for pid, t := range s.Procs {
		d.Procs[pid] = t - before.Procs[pid]
	}
	return d
}

// parseStat reads the first line of /proc/stat, "cpu user nice system
// idle iowait irq softirq steal guest guest_nice": guest time is counted in
// user already, so the first eight fields are the total, and idle and
// iowait the time not busy.
func parseStat(raw []byte) (busy, total time.Duration, err error) {
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 9 || string(fields[0]) != "cpu" {
		return 0, 0, errors.New("/proc/stat: no cpu line with eight times")
	}
	var idle int64
	for i, f := range fields[1:9] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += time.Duration(n) * clockTick
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return total - time.Duration(idle)*clockTick, total, nil
}

// parseProcStat reads utime and stime, the 14th and 15th fields of
// /proc/<pid>/stat. The 2nd, the command's name in parentheses, may hold
// spaces and parentheses itself: the fields after it start after the last ')'.
func parseProcStat(raw []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	fields := bytes.Fields(raw[i+1:]) // from the 3rd field on
	if len(fields) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	var t time.Duration
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		t += time.Duration(n) * clockTick
	}
	return t, nil
}
