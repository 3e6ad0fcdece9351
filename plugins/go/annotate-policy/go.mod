module kiln.dev/plugins/annotate-policy

go 1.21
