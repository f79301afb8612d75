from vidcolor.demo_data.cli import main

main()
