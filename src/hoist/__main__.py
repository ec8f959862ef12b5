from hoist.cli.app import main

main()
