from fastapi_scaffold.cli import main

main()
