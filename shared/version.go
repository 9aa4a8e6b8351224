package shared

// Version and Commit identify the build. They are set at build time with
// -ldflags "-X github.com/alo-presence/alo/shared.Version=..." (see deploy/).
var (
	Version = "dev"
	Commit  = "unknown"
)
