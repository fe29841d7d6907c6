from plugboard.cli import main

main()
