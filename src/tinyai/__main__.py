from tinyai.cli import main

main()
