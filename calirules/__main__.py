from calirules.cli import main

main()
