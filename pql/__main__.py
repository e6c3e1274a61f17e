from pql.cli import main

main()
