package ingest

func lokiRoutes(d *Distributor) []Route { return nil }
