package ingest

import "net/http"

// Route is one HTTP endpoint of a receiver.
type Route struct {
	Method, Path string // Path may end in a {name} segment, e.g. /{index}/_bulk
	Handler      http.Handler
}

// Routes lists every HTTP receiver, for the server to mount on its port.
func (d *Distributor) Routes() []Route {
	var rs []Route
	for _, f := range []func(*Distributor) []Route{lokiRoutes, jsonlineRoutes, bulkRoutes, otlpRoutes, otlpMetricsRoutes, remoteWriteRoutes} {
		rs = append(rs, f(d)...)
	}
	return rs
}
