package ingest

func bulkRoutes(d *Distributor) []Route { return nil }
