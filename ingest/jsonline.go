package ingest

func jsonlineRoutes(d *Distributor) []Route { return nil }
