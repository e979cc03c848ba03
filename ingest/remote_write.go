package ingest

func remoteWriteRoutes(d *Distributor) []Route { return nil }
