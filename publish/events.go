package publish

// Event is something a step did or met on the way, told as it happens so
// that a command can show progress. Events are one of the types below.
type Event interface{ event() }

// Observer is told every Event.
type Observer func(Event)

func (o Observer) emit(e Event) {
	if o != nil {
		o(e)
	}
}

// ArtifactDone: an artifact is on the broker, read back (or, with DryRun,
// would be).
type ArtifactDone struct{ Result ArtifactResult }

// ArtifactSending: an artifact's bytes are about to be sent.
type ArtifactSending struct {
	Name  string // PACKAGE@VERSION
	Size  int64
	Topic string
}

// DevicesMatched: Matched of the Known reporting devices match Glob.
type DevicesMatched struct {
	Glob           string
	Matched, Known int
}

func (DevicesMatched) event() {}

// PercentSelected: Chosen of the Known reporting devices fall in Percent.
type PercentSelected struct {
	Percent       float64
	Chosen, Known int
}

// TargetDone: the desired manifest of sequence Sequence is settled on a
// target; in a run that stopped part-way, what became of each target it
// was to publish to (Result.Action failed or not published).
type TargetDone struct {
	Target   Target
	Result   TargetResult
	Sequence int64
}

// CatalogDone: the catalog entry is recorded (or unchanged, or would be).
type CatalogDone struct{ Result CatalogResult }

// TargetCleared: Unpublish is done with a target.
type TargetCleared struct {
	Target Target
	Result TargetResult
}

// Warning is something the run went on past, for the operator to see.
type Warning struct{ Message string }

func (ArtifactDone) event()    {}
func (ArtifactSending) event() {}
func (PercentSelected) event() {}
func (TargetDone) event()      {}
func (CatalogDone) event()     {}
func (TargetCleared) event()   {}
func (Warning) event()         {}
