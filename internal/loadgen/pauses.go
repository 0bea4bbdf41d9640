package loadgen

import (
	"runtime"
	"sync"
	"time"
)

// Pauses is how steadily a machine ran threads that never wait: every gap
// between two of their clock readings is time the kernel, or the host of a
// virtual machine, gave to something else. On a busy shared host they set
// the floor of any latency tail measured there.
type Pauses struct {
	Threads          int
	Duration         time.Duration
	Over1ms, Over5ms int           // pauses longer than 1 ms and than 5 ms, all threads together
	Longest          time.Duration // the longest pause of any thread
}

// MeasurePauses spins threads OS threads for d, each reading the clock
// in a loop, and reports the gaps between readings.
func MeasurePauses(threads int, d time.Duration) Pauses {
	p := Pauses{Threads: threads, Duration: d}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var mine Pauses
			last := time.Now()
			for end := last.Add(d); last.Before(end); {
				now := time.Now()
				gap := now.Sub(last)
				last = now
				if gap > time.Millisecond {
					mine.Over1ms++
				}
				if gap > 5*time.Millisecond {
					mine.Over5ms++
				}
				mine.Longest = max(mine.Longest, gap)
			}
			mu.Lock()
			defer mu.Unlock()
			p.Over1ms += mine.Over1ms
			p.Over5ms += mine.Over5ms
			p.Longest = max(p.Longest, mine.Longest)
		})
	}
	wg.Wait()
	return p
}
