module kiln.dev/plugins/set-namespace

go 1.21
