package ingest

func otlpRoutes(d *Distributor) []Route { return nil }
