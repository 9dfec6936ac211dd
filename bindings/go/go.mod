module libconcert.dev/concert

go 1.19
