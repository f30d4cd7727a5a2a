package main

import (
	"fmt"
	"strings"
)

// markdown renders one row per scenario and one column per target, and how many times
// better Berth did than Distribution where both were measured (>1: Berth better, whether
// the unit is a rate or a time or a size).
func markdown(rec *recorder, targets []*target) string {
	cols := []string{}
	for _, t := range targets {
		cols = append(cols, t.name)
	}
	cols = append(cols, "null", "dd")
	var b strings.Builder
	b.WriteString("| scenario | " + strings.Join(cols, " | ") + " | Berth vs Distribution |\n")
	b.WriteString("|---" + strings.Repeat("|---:", len(cols)+1) + "|\n")
	for _, sc := range rec.order {
		cells := map[string]result{}
		unit := ""
		for _, r := range rec.results {
			if r.Scenario == sc {
				cells[r.Target] = r
				unit = r.Unit
			}
		}
		b.WriteString("| " + sc + " (" + unit + ") |")
		for _, c := range cols {
			r, ok := cells[c]
			switch {
			case !ok:
				b.WriteString(" – |")
			case r.Note != "":
				fmt.Fprintf(&b, " %s (%s) |", num(r.Value), r.Note)
			default:
				fmt.Fprintf(&b, " %s |", num(r.Value))
			}
		}
		be, ok1 := cells["berth"]
		di, ok2 := cells["distribution"]
		if ok1 && ok2 && di.Value > 0 && be.Value > 0 {
			ratio := be.Value / di.Value
			if lowerIsBetter(unit) {
				ratio = di.Value / be.Value
			}
			fmt.Fprintf(&b, " %.2f× |\n", ratio)
		} else {
			b.WriteString(" |\n")
		}
	}
	return b.String()
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func lowerIsBetter(unit string) bool { return unit == "s" || unit == "ms" || unit == "MiB" }
