package index

// Every on-disk name, magic number and version of an index directory.
const (
	bleveDirName  = "bleve"
	blocksName    = "blocks"
	blocksMagic   = "SILTBIX"
	blocksVersion = 2
	headerLen     = len(blocksMagic) + 1
	// recordHeaderLen is bodyLength uint32 + crc uint32.
	recordHeaderLen = 8
	// maxRecordBody bounds a record body so a corrupt length cannot make Open
	// allocate without limit (a 1024-line block's bloom is a few KiB).
	maxRecordBody = 64 << 20

	fieldTokens      = "tokens"
	fieldLabelPrefix = "label."
	fieldStart       = "start"
	fieldEnd         = "end"
)
