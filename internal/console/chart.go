package console

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hooklane/hooklane/storage"
)

// chart is a bar chart drawn as inline SVG, by the server: no script, and
// no request beyond the page's.
type chart struct {
	Width, Height int
	Label         string // for screen readers
	Bars          []bar
	Ticks         []axisTick
	Legend        []legendItem
	Marker        *marker
	Empty         bool
}

type bar struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type axisTick struct {
	X, Y float64
	Text string
}

type legendItem struct {
	Label string
	Color string
}

type marker struct {
	X      float64
	Y1, Y2 float64
	Text   string
}

const (
	chartWidth  = 720
	chartHeight = 220
	chartLeft   = 44
	chartBottom = 24
	chartTop    = 8
)

var palette = []string{"#2563eb", "#16a34a", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"}

const failColor = "#dc2626"

// minuteChart stacks each minute's deliveries of the hour before now by
// source and outcome.
func minuteChart(counts []storage.MinuteCount, now time.Time) chart {
	const minutes = 60
	end := now.UTC().Truncate(time.Minute)
	start := end.Add(-(minutes - 1) * time.Minute)
	type series struct{ source, outcome string }
	var keys []series
	per := make([]map[series]int64, minutes)
	for _, m := range counts {
		i := int(m.Minute.Sub(start) / time.Minute)
		if i < 0 || i >= minutes {
			continue
		}
		k := series{m.Source, m.Outcome}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
		if per[i] == nil {
			per[i] = map[series]int64{}
		}
		per[i][k] += m.Count
	}
	slices.SortFunc(keys, func(a, b series) int {
		if a.outcome != b.outcome {
			if a.outcome == "stored" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.source, b.source)
	})
	colors := map[series]string{}
	for i, k := range keys {
		colors[k] = palette[i%len(palette)]
		if k.outcome != "stored" {
			colors[k] = failColor
		}
	}
	var peak int64
	for _, m := range per {
		var sum int64
		for _, n := range m {
			sum += n
		}
		peak = max(peak, sum)
	}
	c := chart{Width: chartWidth, Height: chartHeight, Label: "deliveries per minute, last hour", Empty: peak == 0}
	scale := yScale(peak)
	plotH := float64(chartHeight - chartBottom - chartTop)
	slot := float64(chartWidth-chartLeft) / minutes
	for i, m := range per {
		y := float64(chartHeight - chartBottom)
		for _, k := range keys {
			n := m[k]
			if n == 0 {
				continue
			}
			h := float64(n) / float64(scale) * plotH
			y -= h
			c.Bars = append(c.Bars, bar{
				X: chartLeft + float64(i)*slot + 1, Y: y, W: slot - 2, H: h, Color: colors[k],
				Title: fmt.Sprintf("%s %s %s: %d", start.Add(time.Duration(i)*time.Minute).Format("15:04"), k.source, k.outcome, n),
			})
		}
	}
	for i := 0; i < minutes; i += 10 {
		c.Ticks = append(c.Ticks, axisTick{X: chartLeft + float64(i)*slot, Y: chartHeight - 6,
			Text: start.Add(time.Duration(i) * time.Minute).Format("15:04")})
	}
	c.Ticks = append(c.Ticks, yTicks(scale)...)
	for _, k := range keys {
		c.Legend = append(c.Legend, legendItem{Label: k.source + " " + k.outcome, Color: colors[k]})
	}
	return c
}

// latencyChart draws a latency histogram whose last bar, in red, holds the
// answers over budget.
func latencyChart(buckets []storage.LatencyBucket, budget time.Duration) chart {
	var peak int64
	for _, b := range buckets {
		peak = max(peak, b.Count)
	}
	c := chart{Width: chartWidth, Height: chartHeight, Label: "flow answer latency against the budget", Empty: peak == 0}
	if len(buckets) == 0 {
		return c
	}
	scale := yScale(peak)
	plotH := float64(chartHeight - chartBottom - chartTop)
	slot := float64(chartWidth-chartLeft) / float64(len(buckets))
	for i, b := range buckets {
		h := float64(b.Count) / float64(scale) * plotH
		color, title := palette[0], fmt.Sprintf("%.0f–%.0f ms: %d", b.From, b.To, b.Count)
		if b.To == 0 {
			color, title = failColor, fmt.Sprintf("over %s: %d", budget, b.Count)
		}
		c.Bars = append(c.Bars, bar{X: chartLeft + float64(i)*slot + 2, Y: float64(chartHeight-chartBottom) - h,
			W: slot - 4, H: h, Color: color, Title: title})
		label := strconv.FormatFloat(b.From, 'f', 0, 64)
		if b.To == 0 {
			label = "over"
		}
		c.Ticks = append(c.Ticks, axisTick{X: chartLeft + float64(i)*slot + 2, Y: chartHeight - 6, Text: label})
	}
	c.Ticks = append(c.Ticks, yTicks(scale)...)
	x := chartLeft + float64(len(buckets)-1)*slot
	c.Marker = &marker{X: x, Y1: chartTop, Y2: chartHeight - chartBottom, Text: "budget " + budget.String()}
	c.Legend = []legendItem{{Label: "within budget (ms)", Color: palette[0]}, {Label: "over budget", Color: failColor}}
	return c
}

// yScale rounds peak up to a number the axis can label evenly.
func yScale(peak int64) int64 {
	if peak <= 4 {
		return 4
	}
	step := int64(1)
	for step*10 < peak {
		step *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if step*m*4 >= peak {
			return step * m * 4
		}
	}
	return peak
}

func yTicks(scale int64) []axisTick {
	plotH := float64(chartHeight - chartBottom - chartTop)
	var ticks []axisTick
	for i := int64(0); i <= 4; i++ {
		ticks = append(ticks, axisTick{X: 4, Y: float64(chartHeight-chartBottom) - float64(i)/4*plotH + 4,
			Text: strconv.FormatInt(scale*i/4, 10)})
	}
	return ticks
}
