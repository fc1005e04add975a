module licentric/keygen-verify

go 1.26.0
