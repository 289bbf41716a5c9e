module github.com/bproc/bproc

go 1.26.8

require (
	github.com/alecthomas/kong v1.17.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
