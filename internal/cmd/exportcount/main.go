// Command exportcount prints the exported identifiers of a Go package
// directory (default: the current one) counted by kind, generated and
// hand-written apart. With -list it prints every identifier as well, in the
// form of the committed golden file testdata/exports.txt:
//
//	go run ./internal/cmd/exportcount -list . > testdata/exports.txt
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/go-chatshipper/chatshipper/internal/exportcount"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	list := flag.Bool("list", false, "print every identifier after the counts")
	flag.Parse()
	dir := "."
	if flag.NArg() > 1 {
		return fmt.Errorf("usage: exportcount [-list] [dir]")
	}
	if flag.NArg() == 1 {
		dir = flag.Arg(0)
	}
	s, err := exportcount.Count(dir)
	if err != nil {
		return err
	}
	if *list {
		return s.WriteGolden(os.Stdout)
	}
	return s.WriteReport(os.Stdout)
}
