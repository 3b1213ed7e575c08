from vmafkit.cli import main

main()
