package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb"
)

// runFloor is `silt bench -series N -floor D`: for D, before the run, this
// process does with the run's requests what stock Prometheus code does with a
// remote_write request, on as many goroutines as there are CPUs: snappy
// decoding, gogo's prompb.WriteRequest.Unmarshal, and one TSDB head append
// per sample by labels (as Prometheus' receiver does), committed per request,
// into a TSDB without WAL in a temporary directory. silt does that plus its
// durable log (record encoding, append, fsync, and reading it back), so the
// floor is a ceiling for silt on this machine at this moment, the yardstick
// the run's samples/s is measured against. It returns samples/s.
func runFloor(ctx context.Context, b *seriesBench, d time.Duration) (float64, error) {
	dir, err := os.MkdirTemp("", "silt-bench-floor-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	opts := tsdb.DefaultOptions()
	opts.WALSegmentSize = -1
	db, err := tsdb.Open(dir, slog.New(slog.DiscardHandler), nil, opts, nil)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var next, samples atomic.Int64
	var firstErr atomic.Value
	began := time.Now()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw, body, plain []byte
			for ctx.Err() == nil {
				t, round, ts := b.batch(next.Add(1) - 1)
				var ok bool
				if raw, body, ok = t.encode(raw, body, round, ts.UnixMilli()); !ok {
					firstErr.CompareAndSwap(nil, fmt.Errorf("timestamp %d ms has another varint length than the first", ts.UnixMilli()))
					return
				}
				n, err := floorAppend(ctx, db, body, &plain)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				samples.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(samples.Load()) / time.Since(began).Seconds(), nil
}

// floorAppend decodes one snappy-compressed request and appends its samples.
func floorAppend(ctx context.Context, db *tsdb.DB, body []byte, plain *[]byte) (int, error) {
	var err error
	if *plain, err = snappy.Decode((*plain)[:cap(*plain)], body); err != nil {
		return 0, err
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(*plain); err != nil {
		return 0, err
	}
	app := db.Appender(ctx)
	b := labels.NewScratchBuilder(8)
	n := 0
	for _, ts := range wr.Timeseries {
		b.Reset()
		for _, l := range ts.Labels {
			b.Add(l.Name, l.Value)
		}
		ls := b.Labels()
		for _, s := range ts.Samples {
			// A refused sample (out of order when two goroutines hold rounds
			// of one batch) is not counted.
			if _, err := app.Append(0, ls, s.Timestamp, s.Value); err == nil {
				n++
			}
		}
	}
	return n, app.Commit()
}
