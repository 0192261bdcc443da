package main

import _ "github.com/wfgen/wfgen/internal/testflags"
