from mfaenv.cli import main

main()
