from hoist.cli.entry import main

main()
