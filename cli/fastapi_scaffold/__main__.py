from fastapi_scaffold.launcher import main

main()
