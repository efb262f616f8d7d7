package release

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The protocol test vector. Its values were computed independently with
// printf, sha256sum and openssl (see docs/protocol-vectors.md) and are
// written here as literals, so a change to the digest, key id or signature
// code cannot go unnoticed.
var (
	vectorMainBytes  = []byte("main firmware 1.2.3\n")
	vectorModemBytes = []byte("modem firmware 2.0.1.7\n")
)

const (
	vectorDigestText = "ota-release-digest-v1\n" +
		"sequenceNumber 1767225600\n" +
		"expires 2027-01-01T00:00:00Z\n" +
		"component main 1.2.3 20 4715dc2a0e8ca060c130d50494e1882bbfafc7e8d24d94f998a4edf10b9a7845 mcuboot /.u/c/main@1.2.3\n" +
		"component modem 2.0.1.7 23 d9fecb66eef6c0ad1ff11900ccd62becb5df47d740d93b97228b915da379e825 - /.u/c/modem@2.0.1.7\n"
	vectorDigestHex = "5e038ea2dbe9884c79a0d6e81bc77a691dd2d525d3b49f6abbadadc10eae2f6e"
	vectorEdKeyID   = "06e3fd8fda29bb60"
	vectorECKeyID   = "0788629393c6ff38"
	// Made by: openssl pkeyutl -sign -inkey testdata/vector-ed25519.pem -rawin -in digest.bin | base64
	vectorEdSig = "PxfLW82QL4lIHmvIvoajlmuIuj9i6+BoG3LRJTpkZ6X8hHljLQo94lxFHHFLETsPgaCl0BV/jT7TNBsfVMuYBw=="
	// testdata/vector-ecdsa-p256.sig was made by:
	// openssl dgst -sha256 -sign testdata/vector-ecdsa-p256.pem digest.bin | base64
)

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// vectorManifest is the unsigned, sealed vector manifest. Its components are
// given out of order on purpose: Seal sorts them.
func vectorManifest() *Manifest {
	m := &Manifest{
		SequenceNumber: 1767225600, // 2026-01-01T00:00:00Z
		Expires:        "2027-01-01T00:00:00Z",
		Components: []Component{
			{Package: "modem", Version: "2.0.1.7", Hash: hexSHA256(vectorModemBytes), Size: int64(len(vectorModemBytes)), URI: ComponentURI("modem", "2.0.1.7")},
			{Package: "main", Version: "1.2.3", Hash: hexSHA256(vectorMainBytes), Size: int64(len(vectorMainBytes)), URI: ComponentURI("main", "1.2.3"), Type: "mcuboot"},
		},
	}
	m.Seal()
	return m
}

func vectorECSig(t testing.TB) string {
	t.Helper()
	return strings.TrimSpace(string(testdata(t, "vector-ecdsa-p256.sig")))
}

// signedVectorManifest is the vector manifest signed by both test keys.
func signedVectorManifest(t testing.TB) *Manifest {
	t.Helper()
	m := vectorManifest()
	if err := m.Sign(loadSigner(t, "vector-ed25519.pem")); err != nil {
		t.Fatal(err)
	}
	// ECDSA signatures are randomized: add the one openssl made.
	m.Signatures = append(m.Signatures, Signature{KeyID: vectorECKeyID, Alg: AlgECDSAP256, Sig: vectorECSig(t)})
	return m
}

func TestVectorDigest(t *testing.T) {
	m := vectorManifest()
	if got := m.DigestText(); got != vectorDigestText {
		t.Errorf("digest text:\n%s\nwant:\n%s", got, vectorDigestText)
	}
	if got := m.DigestHex(); got != vectorDigestHex {
		t.Errorf("digest = %s, want %s", got, vectorDigestHex)
	}
	if m.Hash != vectorDigestHex {
		t.Errorf("Seal set hash %s, want %s", m.Hash, vectorDigestHex)
	}
	if err := m.Validate(); err != nil {
		t.Error(err)
	}
}

func TestVectorSignatures(t *testing.T) {
	ed := loadSigner(t, "vector-ed25519.pem")
	ec := loadSigner(t, "vector-ecdsa-p256.pem")
	if id, err := KeyID(ed.Public()); err != nil || id != vectorEdKeyID {
		t.Errorf("ed25519 key id = %q, %v; want %s", id, err, vectorEdKeyID)
	}
	if id, err := KeyID(ec.Public()); err != nil || id != vectorECKeyID {
		t.Errorf("ecdsa key id = %q, %v; want %s", id, err, vectorECKeyID)
	}
	if alg, id, err := Identify(ec.Public()); err != nil || alg != AlgECDSAP256 || id != vectorECKeyID {
		t.Errorf("Identify(ecdsa) = %q, %q, %v; want %s %s", alg, id, err, AlgECDSAP256, vectorECKeyID)
	}
	m := signedVectorManifest(t)
	if len(m.Signatures) != 2 {
		t.Fatalf("signatures = %+v", m.Signatures)
	}
	edSig := m.Signatures[0]
	if edSig.KeyID != vectorEdKeyID || edSig.Alg != AlgEd25519 || edSig.Sig != vectorEdSig {
		t.Errorf("ed25519 signature = %+v, want keyid %s sig %s (openssl's)", edSig, vectorEdKeyID, vectorEdSig)
	}
	digest := m.Digest()
	ecSig := Signature{KeyID: vectorECKeyID, Alg: AlgECDSAP256, Sig: vectorECSig(t)}
	if err := VerifySignature(ec.Public(), digest, ecSig); err != nil {
		t.Errorf("openssl's ECDSA signature does not verify: %v", err)
	}
	// The same signatures over another digest must fail.
	other := digest
	other[31] ^= 1
	for _, c := range []struct {
		pub any
		sig Signature
	}{{ed.Public(), edSig}, {ec.Public(), ecSig}} {
		if err := VerifySignature(c.pub, other, c.sig); err == nil {
			t.Errorf("%s signature verifies over a different digest", c.sig.Alg)
		}
	}
	v := Verify(context.Background(), m, VerifyOptions{
		Keys: []crypto.PublicKey{ed.Public(), ec.Public()}, Threshold: 2,
		At: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
	})
	if !v.OK || v.ValidSignatures != 2 {
		t.Errorf("verdict = %+v", v)
	}
}

func TestVectorEncodings(t *testing.T) {
	m := signedVectorManifest(t)
	j, c := encodings(t, m)
	golden(t, "vector-manifest.json", j)
	golden(t, "vector-manifest.cbor.hex", []byte(hex.EncodeToString(c)+"\n"))
	for name, b := range map[string][]byte{"json": j, "cbor": c} {
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: parsed %+v, want %+v", name, got, m)
		}
	}
}

// TestProtocolVectorsDoc keeps docs/protocol-vectors.md equal to the
// vectors (rewrite it with -update).
func TestProtocolVectorsDoc(t *testing.T) {
	m := signedVectorManifest(t)
	j, c := encodings(t, m)
	read := func(name string) string { return strings.TrimSpace(string(testdata(t, name))) }
	ed := loadSigner(t, "vector-ed25519.pem")
	ec := loadSigner(t, "vector-ecdsa-p256.pem")
	edRaw, _ := base64.StdEncoding.DecodeString(m.Signatures[0].Sig)
	ecRaw, _ := base64.StdEncoding.DecodeString(m.Signatures[1].Sig)
	keys := vectorKeyDoc("Ed25519", read("vector-ed25519.pem"), strings.TrimSpace(string(publicPEM(t, ed.Public()))),
		"Key id `"+vectorEdKeyID+"`: `openssl pkey -pubin -in ed25519.pub.pem -outform DER | openssl dgst -sha256 -r | cut -c1-16`.") +
		vectorKeyDoc("ECDSA P-256", read("vector-ecdsa-p256.pem"), strings.TrimSpace(string(publicPEM(t, ec.Public()))),
			"Key id `"+vectorECKeyID+"`.")
	sigs := vectorSignatureDoc("Ed25519 signatures are deterministic: the same key and digest always give\n"+
		"this signature, so an implementation must reproduce it exactly.",
		m.Signatures[0].Sig, hex.EncodeToString(edRaw),
		"openssl pkeyutl -sign -inkey ed25519.pem -rawin -in digest.bin | base64 -w0\n"+
			"openssl pkeyutl -verify -pubin -inkey ed25519.pub.pem -rawin -in digest.bin -sigfile ed25519.sig") +
		vectorSignatureDoc("ECDSA signatures are randomized: this one (made by openssl, ASN.1 DER) is a\n"+
			"verify-only vector; a new signature by the same key differs and is just as valid.",
			m.Signatures[1].Sig, hex.EncodeToString(ecRaw),
			"openssl dgst -sha256 -sign ecdsa-p256.pem digest.bin > ecdsa.sig.der\n"+
				"openssl dgst -sha256 -verify ecdsa-p256.pub.pem -signature ecdsa.sig.der digest.bin")
	doc := fmt.Sprintf(protocolVectorsTemplate,
		len(vectorMainBytes), hexSHA256(vectorMainBytes),
		len(vectorModemBytes), hexSHA256(vectorModemBytes),
		vectorDigestText, m.DigestHex(), m.DigestHex(),
		keys, sigs,
		strings.TrimSpace(string(j)), wrapHex(hex.EncodeToString(c), 64),
	)
	goldenFile(t, filepath.Join("..", "docs", "protocol-vectors.md"), []byte(doc))
}

// vectorKeyDoc is the section of docs/protocol-vectors.md on one test key.
func vectorKeyDoc(title, private, public, keyID string) string {
	return "## " + title + "\n\n" +
		"Private key (test only):\n\n```\n" + private + "\n```\n\n" +
		"Public key:\n\n```\n" + public + "\n```\n\n" +
		keyID + "\n\n"
}

// vectorSignatureDoc is the part of docs/protocol-vectors.md on one
// signature: what kind it is, its bytes, and the openssl commands.
func vectorSignatureDoc(about, b64, hexSig, commands string) string {
	return about + "\n\n" +
		"```\nbase64 " + b64 + "\nhex    " + hexSig + "\n```\n\n" +
		"```sh\n" + commands + "\n```\n\n"
}

func wrapHex(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

const protocolVectorsTemplate = "# Protocol test vectors\n" +
	"\n" +
	"Generated by `go test ./release -run TestProtocolVectorsDoc -update` from\n" +
	"`release/vectors_test.go` and `release/testdata/`; the test fails when this\n" +
	"page and the code disagree. The values were first computed with `printf`,\n" +
	"`sha256sum` and `openssl` alone, so a device or another implementation can\n" +
	"check itself against them. The keys below are **test keys**, published on\n" +
	"purpose: never sign a real release with them. The Ed25519 key is the one of\n" +
	"RFC 8032, section 7.1, test 1.\n" +
	"\n" +
	"## Components\n" +
	"\n" +
	"| package | version | bytes | size | sha256 | type |\n" +
	"|---|---|---|---|---|---|\n" +
	"| main | 1.2.3 | `printf 'main firmware 1.2.3\\n'` | %d | `%s` | mcuboot |\n" +
	"| modem | 2.0.1.7 | `printf 'modem firmware 2.0.1.7\\n'` | %d | `%s` | (none) |\n" +
	"\n" +
	"sequenceNumber 1767225600 (2026-01-01T00:00:00Z), expires 2027-01-01T00:00:00Z.\n" +
	"\n" +
	"## Release digest\n" +
	"\n" +
	"The digest text (every line ends in `\\n`, components sorted by package):\n" +
	"\n" +
	"```\n" +
	"%s" +
	"```\n" +
	"\n" +
	"Its SHA-256, the manifest's `hash`:\n" +
	"\n" +
	"```\n" +
	"%s\n" +
	"```\n" +
	"\n" +
	"Write the 32 raw digest bytes for openssl:\n" +
	"\n" +
	"```sh\n" +
	"printf %s | xxd -r -p > digest.bin\n" +
	"```\n" +
	"\n" +
	"%s" +
	"## Signatures\n" +
	"\n" +
	"%s" +
	"## The signed manifest\n" +
	"\n" +
	"JSON, as `EncodeJSON` writes it (signatures sorted by keyid):\n" +
	"\n" +
	"```json\n" +
	"%s\n" +
	"```\n" +
	"\n" +
	"CBOR, as `EncodeCBOR` writes it (hex):\n" +
	"\n" +
	"```\n" +
	"%s\n" +
	"```\n" +
	"\n" +
	"The CBOR encoding, key by key:\n" +
	"\n" +
	"- CBOR core deterministic encoding (RFC 8949 section 4.2.1): definite\n" +
	"  lengths, shortest integer forms, map keys in bytewise order.\n" +
	"- Top level: 1 sequenceNumber (integer), 2 hash (lowercase hex text),\n" +
	"  3 components (array of maps), 4 expires (text, as in JSON, left out when\n" +
	"  absent), 5 signatures (array of maps, left out when there are none).\n" +
	"- Component: 1 package, 2 version, 3 hash (lowercase hex **text**: the SDK\n" +
	"  rejects a byte string), 4 size (integer), 5 uri, 6 type (left out when\n" +
	"  absent).\n" +
	"- Signature: 1 keyid (text), 2 alg (text), 3 sig as a **byte string**\n" +
	"  holding the raw signature (64 bytes for Ed25519, ASN.1 DER for ECDSA),\n" +
	"  the bytes that JSON carries in base64.\n" +
	"\n" +
	"## What otactl accepts when it reads a manifest\n" +
	"\n" +
	"JSON when the first byte after whitespace (and an optional UTF-8 byte\n" +
	"order mark) is `{`, CBOR otherwise; at most 1 MiB. CBOR maps and arrays\n" +
	"may be of definite or indefinite length; CBOR tags are refused. Unknown\n" +
	"fields (JSON names are matched exactly, with case), duplicate fields,\n" +
	"wrong types, missing required fields and trailing data are refused: a\n" +
	"field outside the digest must not slip by unnoticed, and a misspelt\n" +
	"`expires` would otherwise drop the expiry silently. `sig` must be canonical\n" +
	"standard base64 so that JSON and CBOR carry the same bytes. An empty map\n" +
	"(`{}`, CBOR `a0`) is the device SDK's \"no release\" and is reported as such.\n" +
	"\n" +
	"## Decisions of the release package\n" +
	"\n" +
	"Where the protocol ([protocol.md](protocol.md)) leaves a choice open,\n" +
	"`release/` decided:\n" +
	"\n" +
	"- **Types** follow the package rule (1 to 64 of `[A-Za-z0-9._-]`, no leading\n" +
	"  `.`), and `-` is refused: it stands for \"no type\" in the digest text, so a\n" +
	"  type `-` would give the same digest as no type.\n" +
	"- **Expiry** in a manifest must be canonical: `2026-12-27T23:22:22Z`, UTC,\n" +
	"  whole seconds, so a device can compare it as text. `release create\n" +
	"  --expires` takes a Go duration (`720h`), whole days (`30d`) or an RFC 3339\n" +
	"  time in any offset; the result is turned to UTC and cut to whole seconds,\n" +
	"  and must lie after the creation time. A manifest is expired when the\n" +
	"  check time is at or after `expires`.\n" +
	"- **Empty files** are refused as components: publishing an empty retained\n" +
	"  message deletes the topic, so devices could never download it.\n" +
	"- **MCUboot**: a file starting with magic `0x96f3b83d` (little endian) has\n" +
	"  its version read from the image header, `major.minor.revision`. A version\n" +
	"  never holds `+`, so a build number is dropped (`1.2.3+4` gives `1.2.3`, the\n" +
	"  default, with a warning) or, with `--build-number dot`, made a fourth\n" +
	"  number (`1.2.3.4`, and `1.2.3.0` for build 0): see\n" +
	"  [MCUboot versions](protocol.md#mcuboot-versions). A version given on the\n" +
	"  command line that differs from the header is refused (exit 1, not 3: it is\n" +
	"  an input error) because devices report the version of the image they run\n" +
	"  and would update forever; both `major.minor.revision` and\n" +
	"  `major.minor.revision.build` match a header. `--allow-version-mismatch`\n" +
	"  turns the refusal into a warning.\n" +
	"- **Component specs** `PACKAGE@VERSION=FILE[,type=TYPE]`: the name ends at the\n" +
	"  first `=`, so a path may hold `=`; one trailing `,type=NAME` sets the type,\n" +
	"  so a path may hold commas; a path that itself ends in `,type=x` is written\n" +
	"  with an empty `,type=` after it.\n" +
	"- **Sealing** sorts the components by package and sets `hash`; when that\n" +
	"  changes `hash`, the old signatures no longer sign the manifest and are\n" +
	"  dropped.\n" +
	"- **Signing** refuses an invalid manifest, and one whose `hash` is not its\n" +
	"  digest (exit 3). Each new signature is verified before it is added, which\n" +
	"  catches a faulty external signer. Signing again with the same key replaces\n" +
	"  its signature; signatures are kept sorted by `keyid`, so the order of\n" +
	"  signing does not change the bytes.\n" +
	"- **Verifying** counts valid signatures by distinct trusted keys (a key given\n" +
	"  twice counts once). A signature by a key that was not given is listed as\n" +
	"  `unknown key` and is not a failure; a bad signature by a trusted key is. The\n" +
	"  threshold defaults to 1 when keys are given and 0 when none are; a threshold\n" +
	"  above the number of trusted keys is a problem in itself. Every problem is\n" +
	"  listed; none stops the others from being checked.\n" +
	"- **Artifacts** are paired with components as `PACKAGE=FILE` or\n" +
	"  `PACKAGE@VERSION=FILE`; a bare file is paired directly when it is the only\n" +
	"  file and the release has one component, else by its name\n" +
	"  (`PACKAGE@VERSION[.ext]`, then `PACKAGE[.ext]`, the longest package name\n" +
	"  winning), else by equal size and hash. A bare path that holds `=` is\n" +
	"  written `./a=b.bin`. With a folder (`--artifacts DIR`), each component\n" +
	"  left over is looked up in it and its subfolders (hidden ones, such as\n" +
	"  `.git`, left out): by name, where two candidates of the same rank are an\n" +
	"  error rather than a guess; a component no file is named after, by\n" +
	"  content: the first file in path order that names no component and has\n" +
	"  its size and SHA-256 (so `--artifacts build/` finds a Zephyr build's\n" +
	"  `build/zephyr/zephyr.signed.bin`). A component found nowhere is named\n" +
	"  with what was looked for (`looked for main@1.2.3[.EXT] and main[.EXT] by\n" +
	"  name, and for a file of 65536 bytes with its sha256`): a verification\n" +
	"  problem for `release verify`; for `release publish`, which then needs\n" +
	"  the broker to retain it already, the error when it does not. Two files\n" +
	"  for one component are an error.\n" +
	"- **Hashing** streams each file in 1 MiB reads through Go's SHA-256 (SHA-NI on\n" +
	"  amd64), one file per CPU at a time. Measured here: 1 GiB in about 1.05 s\n" +
	"  against 0.95 s for `openssl dgst -sha256`; `BenchmarkHashFile` (64 MiB)\n" +
	"  about 1,260 MB/s.\n" +
	"- **Device-compatibility lint** (`Lint`, the Golioth device SDK's defaults):\n" +
	"  more than one component, a package or version over 16 characters, a uri\n" +
	"  over 39, `sequenceNumber` over 2,147,483,647 (the finding names the value a\n" +
	"  device reads: wrapped in CBOR, capped in JSON), and a package and version\n" +
	"  whose state reports do not fit the SDK's 64-byte report buffer. Findings\n" +
	"  are warnings, or refuse the command in strict mode: see\n" +
	"  [Limits](protocol.md#limits).\n"

// TestProtocolDocVector checks that the vector quoted in docs/protocol.md
// is the code's.
func TestProtocolDocVector(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	m := vectorManifest()
	if !strings.Contains(doc, "```\n"+m.DigestText()+"```") {
		t.Errorf("docs/protocol.md does not quote the digest text:\n%s", m.DigestText())
	}
	if !strings.Contains(doc, "`"+m.DigestHex()+"`") {
		t.Errorf("docs/protocol.md does not quote the digest %s", m.DigestHex())
	}
}
