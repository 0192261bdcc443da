package pipeline_test

import _ "github.com/wfgen/wfgen/internal/testflags"
