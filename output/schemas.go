package output

// The schemas of every JSON document otactl prints, and the types they
// share: the one source of docs/json.md's reference (SchemaDoc) and of
// the tests that check each command's output against it (Check).

func str(name, doc string) Prop  { return Prop{Name: name, Kind: KindString, Doc: doc} }
func num(name, doc string) Prop  { return Prop{Name: name, Kind: KindNumber, Doc: doc} }
func intg(name, doc string) Prop { return Prop{Name: name, Kind: KindInteger, Doc: doc} }
func boo(name, doc string) Prop  { return Prop{Name: name, Kind: KindBool, Doc: doc} }
func tim(name, doc string) Prop  { return Prop{Name: name, Kind: KindTime, Doc: doc} }
func obj(name, doc string, fs ...Prop) Prop {
	return Prop{Name: name, Kind: KindObject, Doc: doc, Fields: fs}
}
func ref(name, typ, doc string) Prop { return Prop{Name: name, Kind: KindObject, Doc: doc, Ref: typ} }
func arr(name, doc string, elem Prop) Prop {
	return Prop{Name: name, Kind: KindArray, Doc: doc, Elem: &elem}
}
func arrOf(name, typ, doc string) Prop { return arr(name, doc, Prop{Kind: KindObject, Ref: typ}) }
func strs(name, doc string) Prop       { return arr(name, doc, Prop{Kind: KindString}) }
func mapOf(name, doc string, elem Prop) Prop {
	return Prop{Name: name, Kind: KindMap, Doc: doc, Elem: &elem}
}

// opt is f, which may be left out.
func opt(f Prop) Prop { f.Optional = true; return f }

// null is f, which may be null.
func null(f Prop) Prop { f.Nullable = true; return f }

// Types are the objects several documents hold, documented once.
var Types = map[string]Schema{
	"manifest": {Doc: "A release manifest, as the protocol defines it (docs/protocol.md): its own field names, `hash` for the digests, whatever the CLI's names.", Fields: []Prop{
		intg("sequenceNumber", "the release's sequence number"),
		str("hash", "the release digest, lowercase hex"),
		arr("components", "the components, sorted by package", obj("", "",
			str("package", "package name"), str("version", "version"),
			str("hash", "lowercase hex SHA-256 of the component's bytes"), intg("size", "bytes"),
			str("uri", "the component's topic relative to the prefix"), opt(str("type", "component type, e.g. mcuboot")))),
		opt(str("expires", "RFC 3339 UTC time after which devices must not act on it")),
		opt(arr("signatures", "signatures over the release digest", obj("", "",
			str("keyid", "key id"), str("alg", "ed25519 or ecdsa-p256"), str("sig", "base64 signature")))),
	}},
	"component": {Doc: "A manifest's component outside a manifest: its digest is `sha256`.", Fields: []Prop{
		str("package", "package name"), str("version", "version"),
		str("sha256", "lowercase hex SHA-256 of the component's bytes"), intg("size", "bytes"),
		str("uri", "the component's topic relative to the prefix"), opt(str("type", "component type")),
	}},
	"row": {Doc: "One device's row for one package, as rollout status and the gates judge it (docs/watch.md).", Fields: []Prop{
		str("device", "device id"), str("package", "package"),
		str("status", "failed, retrying, stale, pending or done"),
		boo("seen", "the device reported for the package; when false, no state, reason or time"),
		opt(intg("state", "state code")), opt(str("stateName", "state by name")),
		opt(intg("reason", "reason code")), opt(str("reasonName", "reason by name")),
		opt(intg("lastFailure", "a retrying device's last failure reason, when seen")),
		opt(str("lastFailureName", "lastFailure by name")),
		str("version", "running version"), str("target", "the target the desired manifests give"),
		str("reportedTarget", "the target the device reported"),
		opt(str("cohort", "the device's cohort, when known")),
		opt(tim("time", "when the report was received")), opt(str("topic", "the report's topic")),
	}},
	"summary": {Doc: "Counts over the devices a filter picks.", Fields: []Prop{
		intg("devices", "distinct devices with a report"), intg("reports", "rows with a report"),
		intg("unseen", "listed devices with no report"),
		mapOf("states", "reports per state name", Prop{Kind: KindInteger}),
		str("target", "the target, when all targeted rows share one"), intg("targets", "distinct targets"),
		intg("targeted", "rows with a target"), intg("updated", "rows running their target"),
		num("updatedPercent", "updated of targeted, in percent"),
		intg("done", "done rows"), intg("pending", "pending rows"), intg("stale", "stale rows"),
		intg("failed", "failed rows"), intg("retrying", "retrying rows"),
		arr("failures", "failures by reason, most frequent first", obj("", "",
			intg("reason", "reason code"), str("reasonName", "reason by name"), intg("count", "rows"))),
		intg("malformed", "reports that did not decode"),
		arr("recentMalformed", "the latest of them", obj("", "",
			str("topic", "topic"), str("error", "why it did not decode"), tim("time", "when received"))),
	}},
	"verdict": {Doc: "A release's verification: the one shape of `verdict`.", Fields: verdictFields},
	"finding": {Doc: "A finding of the device-compatibility lint.", Fields: []Prop{
		str("code", "the kind of finding"), str("message", "in words"),
		opt(str("package", "the component it is about")),
		opt(mapOf("reads", "the value a device reads, per encoding, when it differs", Prop{Kind: KindString})),
	}},
	"artifact": {Doc: "What happened to one artifact.", Fields: artifactFields},
	"target": {Doc: "What happened on one desired topic.", Fields: []Prop{
		str("kind", "fleet, cohort or device"), opt(str("name", "the cohort or device")), str("topic", "the desired topic"),
		opt(intg("previousSequence", "the sequence number retained there before")),
		str("action", "published, unchanged, would publish, refused, superseded or replaced; in a run that stopped part-way (exit 6 or 130), failed, interrupted or not published; for unpublish: unpublished, would unpublish, unchanged, cleared, would clear, empty or failed, and when interrupted (exit 130) interrupted or not unpublished"),
		opt(str("encoding", "for unpublish: the empty manifest's encoding")),
		opt(boo("restored", "published again after a concurrent lower publish replaced it")),
		opt(str("error", "why publishing or unpublishing there failed (action failed)")),
	}},
	"rolloutState": {Doc: "A staged rollout's state, as retained at `.u/rollout/state` (docs/rollouts.md).", Fields: []Prop{
		intg("sequenceNumber", "the release's"), str("hash", "the release digest"),
		str("package", "the package the gates judge"), str("version", "its version"), str("steps", "the steps"),
		opt(intg("previousSequence", "the release restored on a failed gate")),
		str("minUpdated", "gate threshold"), str("maxFailed", "gate threshold"), str("bake", "bake time"),
		str("onFailure", "pause, halt or rollback"), boo("signed", "the release is signed"),
		str("status", "running, paused, done, failed, aborted…"), intg("stage", "index of the current or last stage"),
		arr("stages", "each stage", obj("", "",
			str("step", "the step"), str("status", "the stage's status"), intg("targets", "desired topics published"),
			intg("total", "devices that count"), intg("updated", "updated"), intg("failed", "failed"), intg("pending", "pending"),
			opt(intg("restored", "devices restored")), opt(tim("startedAt", "start")), opt(tim("endedAt", "end")))),
		str("startedBy", "who started it"), tim("startedAt", "when"), tim("updatedAt", "last change"),
		opt(str("by", "who acted last, when not the starter")), opt(str("message", "why it stopped")),
	}},
	"keyInfo": {Doc: "A signing key, without its secret.", Fields: []Prop{
		str("name", "keyring name, a pkcs11: URI, or empty for a file"), str("alg", "ed25519 or ecdsa-p256"),
		str("keyid", "key id"), opt(str("token", "the PKCS#11 token of a token key")),
	}},
	"publicKey": {Doc: "A key of a key set.", Fields: []Prop{
		str("keyid", "key id"), str("alg", "ed25519 or ecdsa-p256"), str("public", "base64 DER SubjectPublicKeyInfo"),
	}},
	"profile": {Doc: "A profile's settings, in camelCase (the config file keeps its kebab-case keys). Settings not set are left out.", Fields: []Prop{
		opt(str("broker", "broker URL")), opt(str("username", "")), opt(str("clientId", "")),
		opt(str("caFile", "")), opt(str("certFile", "")), opt(str("keyFile", "")), opt(boo("insecure", "")),
		opt(str("topicPrefix", "")), opt(str("timeout", "Go duration")), opt(str("readBackWait", "Go duration")),
		opt(intg("maxPayload", "bytes")), opt(boo("requireSignatures", "")), opt(strs("pubkey", "trusted public keys")),
		opt(strs("rootPubkey", "root keys")), opt(intg("threshold", "")), opt(str("encoding", "json or cbor")),
		opt(boo("strict", "")), opt(str("pkcs11Module", "")), opt(str("signerPubkey", "")),
		opt(strs("verifyBrokers", "broker endpoints every step is confirmed on (docs/publishing.md)")),
	}},
	"endpoint": {Doc: "Whether a step was confirmed on one broker endpoint (docs/publishing.md, Several endpoints).", Fields: []Prop{
		str("url", "the endpoint's URL"), boo("confirmed", "the step was read back there"),
		opt(str("error", "why it was not confirmed")),
	}},
	"gateResult": {Doc: "A gate's result (docs/watch.md).", Fields: gateFields},
}

var verdictFields = []Prop{
	boo("ok", "verified: digest, signatures, expiry and artifacts"),
	intg("sequenceNumber", "the release's"), str("hash", "the release digest the manifest states"),
	str("digest", "the release digest recomputed"), boo("digestOk", "hash equals digest"),
	arr("signatures", "each signature", obj("", "",
		str("keyid", "key id"), str("alg", "algorithm"), str("status", "valid, invalid, unknown key…"), opt(str("detail", "why")))),
	intg("validSignatures", "distinct trusted keys with a valid signature"), intg("threshold", "signatures needed"),
	opt(str("expires", "the manifest's expiry")), boo("expired", "past its expiry at checkedAt"),
	tim("checkedAt", "the time expiry was checked against"),
	arr("artifacts", "each artifact file checked", obj("", "",
		str("path", "file"), opt(str("package", "the component it was paired with")), opt(str("version", "version")),
		opt(str("by", "how it was paired")), str("sha256", "lowercase hex SHA-256 of the file"), intg("size", "bytes"),
		boo("ok", "paired, and version, size and digest equal the component's"), opt(str("problem", "why not")))),
	strs("problems", "every problem found, in words"),
}

var artifactFields = []Prop{
	str("package", "package"), str("version", "version"), str("topic", "the artifact's topic"),
	intg("size", "bytes"), str("sha256", "lowercase hex SHA-256"),
	str("action", "uploaded, replaced, present, verified, would upload, would replace"),
	opt(intg("blockSize", "bytes a block, when published in blocks (docs/protocol.md, Block artifacts)")),
	opt(intg("blocks", "its number of blocks, when published in blocks")),
}

var gateFields = []Prop{
	str("outcome", "done, failed, pending or timeout"), boo("done", "enough devices updated"),
	boo("failed", "tooManyFailed or unreachable"), boo("tooManyFailed", "more devices failed than allowed"),
	boo("unreachable", "the goal can no longer be met"), str("version", "the version waited for; empty on a timeout before it was known"), str("package", "the package judged"),
	intg("total", "devices that count"), intg("updated", "of them updated"), intg("need", "updated devices needed"),
	intg("failedCount", "failed devices"), intg("allowedFailures", "failures allowed"),
	intg("pendingCount", "devices neither updated nor failed"), intg("notSeen", "of them, with no report"),
	intg("notKnown", "of them, only expected"),
	arrOf("failures", "row", "the failed devices"), arrOf("pending", "row", "the pending devices"),
	tim("time", "when judged"),
}

var publishFields = []Prop{
	intg("sequenceNumber", "the release's"), str("hash", "the release digest"), str("encoding", "json or cbor"),
	boo("dryRun", "nothing was sent"), opt(intg("rollbackOf", "the release a rollback republished")),
	arrOf("warnings", "finding", "the device-compatibility lint's findings"),
	arrOf("artifacts", "artifact", "each artifact"), arrOf("targets", "target", "each desired topic"),
	obj("catalog", "the catalog entry", str("topic", "its topic"), str("action", "recorded, unchanged, would record; empty when a run ends with exit 6 before recording")),
	opt(arrOf("endpoints", "endpoint", "with several broker endpoints: each one, the publishing connection first")),
}

// Schemas are the documents otactl prints, by name.
var Schemas = []Schema{
	{Name: "artifact-delete", Commands: []string{"artifact delete"}, Doc: "The artifact deleted.", Fields: []Prop{
		str("package", "package"), str("version", "version"), str("topic", "its topic"),
		str("action", "deleted, or absent when nothing was retained"), strs("usedBy", "desired manifests that named it (with --force)"),
	}},
	{Name: "artifact-list", Commands: []string{"artifact list"}, Doc: "The artifacts retained.", Fields: []Prop{
		arr("artifacts", "each artifact", obj("", "", str("package", "package"), str("version", "version"),
			str("topic", "its topic"), intg("size", "bytes"), str("sha256", "lowercase hex SHA-256"),
			boo("whole", "retained whole at its topic; false: in blocks only"),
			opt(intg("blockSize", "bytes a block, when it has a block index")), opt(intg("blocks", "its number of blocks")),
			opt(str("problem", "what is wrong with it: a block index that does not decode")))),
	}},
	{Name: "broker", Commands: []string{"broker"}, Doc: "Where the broker listens, printed once it does.", Fields: []Prop{
		str("url", "MQTT URL"), boo("auth", "logins are required"), str("topicPrefix", "topic prefix"),
		opt(str("wsUrl", "websocket URL")), opt(str("data", "data folder")),
	}},
	{Name: "config-get", Commands: []string{"config get"}, Doc: "One setting (with KEY: profile, key, value) or a profile's settings (profile, path, settings).", Fields: []Prop{
		str("profile", "profile name"), opt(str("key", "the setting's name, as config set takes it")),
		opt(str("value", "its value, as text")), opt(str("path", "the config file")),
		opt(ref("settings", "profile", "the settings")),
	}},
	{Name: "config-list", Commands: []string{"config list"}, Doc: "Every profile.", Fields: []Prop{
		str("path", "the config file"), str("active", "the active profile"),
		mapOf("profiles", "each profile's settings, by name", Prop{Kind: KindObject, Ref: "profile"}),
	}},
	{Name: "demo", Commands: []string{"demo"}, Doc: "How the demo ended.", Fields: []Prop{
		boo("ok", "the demo's rollout succeeded"), intg("devices", "simulated devices"), str("package", "package"),
		str("version", "version rolled out"), intg("sequenceNumber", "the release's"), str("keyid", "the one-run key's id"),
		strs("canary", "the canary devices"), opt(ref("rollout", "rolloutState", "the rollout's state")),
	}},
	{Name: "doctor", Commands: []string{"doctor"}, Doc: "Each check of the broker and of every other endpoint (docs/brokers.md).", Fields: []Prop{
		boo("ok", "every check passed but those whose answer is unknown"),
		arr("checks", "each check, in order: the first endpoint's, each other endpoint's, then propagation", obj("", "",
			str("name", "connect, topics, retained, wildcard, size, expiry or propagation"), str("endpoint", "the endpoint's URL"),
			boo("ok", "passed"), str("detail", "what was seen"), opt(str("hint", "what to do")),
			opt(boo("unknown", "the broker gave no answer (not a failure)")), opt(intg("bytes", "size: the largest retained message kept")),
			opt(num("seconds", "propagation: how long it took")))),
	}},
	{Name: "key-generate", Commands: []string{"key generate"}, Doc: "The key made.", Fields: Types["keyInfo"].Fields},
	{Name: "key-list", Commands: []string{"key list"}, Doc: "The keys in the keyring (and tokens).", Fields: []Prop{
		arrOf("keys", "keyInfo", "each key"),
	}},
	{Name: "key-rotate", Commands: []string{"key rotate"}, Doc: "The key set published.", Fields: []Prop{
		str("topic", "its topic"), str("action", "published, or would publish"), boo("bootstrap", "the first key set"),
		intg("version", "its version"), opt(intg("previousVersion", "the version it replaced")),
		str("digest", "its digest"), intg("threshold", "release signatures a manifest needs"),
		arrOf("keys", "publicKey", "release keys"), intg("rootThreshold", "root signatures needed"),
		arrOf("roots", "publicKey", "root keys"), strs("signedBy", "the root key ids that signed it"),
		opt(arrOf("endpoints", "endpoint", "with several endpoints: each, the publishing connection first, and whether it served the key set (exit 6 when one did not)")),
	}},
	{Name: "release-create", Commands: []string{"release create"}, Doc: "The manifest made.", Fields: []Prop{
		opt(str("file", "the file written (--out)")), strs("warnings", "the linter's warnings"),
		ref("manifest", "manifest", "the manifest"),
	}},
	{Name: "release-current", Commands: []string{"release current"}, Doc: "The desired manifest a target retains, verified; or no release.", Fields: []Prop{
		str("kind", "fleet, cohort or device"), str("name", "the cohort or device"), str("topic", "the desired topic"),
		null(ref("manifest", "manifest", "the manifest; null for no release")),
		opt(ref("verdict", "verdict", "its verification")),
		opt(boo("noRelease", "the empty manifest is retained")), opt(str("encoding", "of the empty manifest")),
	}},
	{Name: "release-digest", Commands: []string{"release digest"}, Doc: "A manifest's release digest.", Fields: []Prop{
		intg("sequenceNumber", "the release's"), opt(str("expires", "its expiry")),
		str("digest", "the release digest recomputed, lowercase hex"), str("base64", "the same 32 bytes in base64"),
	}},
	{Name: "release-list", Commands: []string{"release list"}, Doc: "The release catalog.", Fields: []Prop{
		arr("releases", "each release, by sequence number", obj("", "",
			intg("sequenceNumber", "the release's"), str("hash", "the release digest"),
			tim("publishedAt", "last published"), opt(str("expires", "its expiry")),
			arrOf("components", "component", "its components"),
			arr("signatures", "its signers", obj("", "", str("keyid", "key id"), str("alg", "algorithm"))),
			arr("targets", "where it was published", obj("", "",
				str("kind", "fleet, cohort or device"), opt(str("name", "the cohort or device")), tim("at", "when"))),
			str("encoding", "json or cbor"), opt(intg("rollbackOf", "the release it republished")))),
	}},
	{Name: "release-publish", Commands: []string{"release publish"}, Doc: "What the publish did; with --wait, the gate's result under `gate`.",
		Fields: append(append([]Prop{}, publishFields...), opt(ref("gate", "gateResult", "with --wait: the gate's result, when it has a verdict")))},
	{Name: "release-rollback", Commands: []string{"release rollback"}, Doc: "What the rollback's publish did.", Fields: publishFields},
	{Name: "release-unpublish", Commands: []string{"release unpublish"}, Doc: "What the unpublish did; printed with exit 1 or 6 too when a target failed, and with exit 130 when interrupted after a change (docs/publishing.md).", Fields: []Prop{
		boo("dryRun", "nothing was sent"), arrOf("targets", "target", "each desired topic"),
		opt(arrOf("endpoints", "endpoint", "with exit 6: each broker endpoint, the publishing connection first")),
		opt(str("error", "with exit 1, 6 or 130: why the run did not end on every target")),
	}},
	{Name: "release-show", Commands: []string{"release show"}, Doc: "A manifest file.", Fields: []Prop{
		ref("manifest", "manifest", "the manifest"),
	}},
	{Name: "release-verify", Commands: []string{"release verify"}, Doc: "The verdict.", Fields: verdictFields},
	{Name: "rollout-event", Commands: []string{"rollout start", "rollout resume"}, Stream: true, Doc: "What a staged rollout does, as it happens (docs/rollouts.md).", Fields: []Prop{
		str("event", "started, resumed, stage-started, published, gate, gate-passed, gate-failed, baked, restored, paused, timeout or done"),
		tim("time", "when"), opt(intg("stage", "the stage, from 1")), opt(intg("stages", "stages in all")),
		opt(str("step", "the stage's step")), opt(intg("sequenceNumber", "the release's (restored: the new manifest's)")),
		opt(str("version", "the version")), opt(intg("targets", "desired topics published")),
		opt(obj("gate", "the gate in numbers",
			str("outcome", "done, failed or pending"), intg("total", "devices that count"), intg("updated", "updated"),
			intg("need", "needed"), intg("failed", "failed"), intg("allowedFailures", "allowed"), intg("pending", "pending"))),
		opt(arr("failures", "the failed devices (at most 50)", obj("", "", str("device", "device id"), str("reason", "reason by name")))),
		opt(arrOf("endpoints", "endpoint", "with several broker endpoints (published, restored, paused on exit 6): each one, the publishing connection first")),
		opt(str("status", "the rollout's status")), opt(str("message", "more, in words")),
	}},
	{Name: "rollout-abort", Commands: []string{"rollout abort"}, Doc: "The rollout's state once aborted.", Fields: Types["rolloutState"].Fields},
	{Name: "rollout-status", Commands: []string{"rollout status"}, Doc: "The fleet's status: summary and the devices not done, trouble first.", Fields: []Prop{
		tim("time", "when read"), ref("summary", "summary", "the counts"),
		arrOf("devices", "row", "the rows not done"),
		opt(ref("rollout", "rolloutState", "the staged rollout's state, when one left it")),
	}},
	{Name: "rollout-wait", Commands: []string{"rollout wait"}, Doc: "The gate's result.", Fields: gateFields},
	{Name: "simulate-event", Commands: []string{"simulate"}, Stream: true, Doc: "One thing a simulated device did.", Fields: []Prop{
		tim("time", "when"), str("device", "device id"), str("kind", "connected, report, ignored, refused, failed, retrying, reboot, error, keyset or keyset-refused"),
		intg("state", "state code"), intg("reason", "reason code"), opt(str("version", "running version")),
		opt(str("target", "target version")), opt(intg("sequenceNumber", "the manifest's")),
		opt(intg("attempt", "the attempt that failed, from 1")), opt(str("detail", "more, in words")),
	}},
	{Name: "simulate-summary", Commands: []string{"simulate", "simulate summary"}, Stream: true, Doc: "The fleet's load figures: the last line of simulate's stream, after its events; simulate summary's one line, the sum of several processes' summaries.", Fields: []Prop{
		str("kind", "summary"), intg("devices", "devices simulated"), intg("connected", "devices that connected at least once"),
		num("rampSeconds", "from the start until the last of them did"), num("connectRate", "their first connections per second"),
		intg("connections", "connections made, reconnects and reboots included"), intg("connectErrors", "connections that failed"),
		intg("reports", "reports the broker acknowledged"), intg("reportErrors", "reports that failed"),
		obj("reportLatencyMs", "from PUBLISH to PUBACK, in milliseconds",
			num("p50", "median"), num("p90", "90th percentile"), num("p99", "99th percentile"), num("max", "largest")),
		intg("failedAttempts", "failed update attempts"), intg("refused", "refused manifests"), intg("errors", "everything else that went wrong"),
		opt(intg("processes", "simulate summary: how many processes' summaries were summed up")),
		opt(str("shard", "the process's --shard I/N, when it ran one of several")),
		opt(arr("reportLatencyHistogram", "the latencies' histogram, its non-empty buckets in order (what simulate summary adds up)", obj("", "",
			intg("upperUs", "the bucket's largest latency, in microseconds"), intg("count", "latencies in the bucket")))),
	}},
	{Name: "upload", Commands: []string{"upload"}, Doc: "The artifact uploaded.", Fields: artifactFields},
	{Name: "version", Commands: []string{"version"}, Doc: "How the binary was built.", Fields: []Prop{
		str("version", "version"), str("commit", "commit"), str("date", "build date"),
		boo("modified", "built from a modified checkout"), str("go", "Go version"), str("os", "GOOS"), str("arch", "GOARCH"),
	}},
	{Name: "watch", Commands: []string{"watch"}, Stream: true, Doc: "One state report, as received (live) or retained (--once).", Fields: []Prop{
		str("device", "device id"), str("package", "package"), intg("state", "state code"), str("stateName", "state by name"),
		intg("reason", "reason code"), str("reasonName", "reason by name"), str("version", "running version"),
		str("target", "target the device reported"), opt(tim("time", "when received")), str("topic", "its topic"),
	}},
}
