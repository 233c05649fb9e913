# gdb script of native_stacks.sh (`make test` with NATIVE_STACKS=1, as CI runs it): run the command; if it dies
# of a fatal signal, print every thread's native stack, then let the signal through so faulthandler prints the
# Python stacks as well. Every other signal goes to pytest untouched (the suite's own SIGINT/SIGTERM/SIGALRM tests rely on them).
set pagination off
set confirm off
set print inferior-events off
set print thread-events off
handle all nostop noprint pass
handle SIGINT nostop noprint pass
handle SIGSEGV SIGBUS SIGABRT SIGFPE SIGILL stop print pass
run
if $_isvoid($_exitcode)
  echo \n--- native stacks at the crash (gdb) ---\n
  thread apply all bt 25
  continue
end
